package faultfs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// trashName is the directory in the backing root that keeps unlinked and
// overwritten files until their removal is committed.
const trashName = ".faultfs-trash"

// FS is one mounted fault file system.
type FS struct {
	backing, mountpoint string
	server              *fuse.Server
	root                *node

	// mu is held shared by every operation that changes the backing
	// directory and exclusively by Cut: an operation finished before the
	// cut or fails with EIO, never half.
	mu   sync.RWMutex
	dead atomic.Bool

	// filesMu guards files: the undo record of every inode written since
	// its last sync.
	filesMu sync.Mutex
	files   map[uint64]*undo

	// nsMu serialises namespace operations with their journal entries.
	unmountMu sync.Mutex
	unmounted bool

	nsMu     sync.Mutex
	journal  []nsOp
	trashSeq int
}

// Available reports whether this machine can mount a FUSE file system,
// and why not.
func Available() (bool, string) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return false, "no /dev/fuse: " + err.Error()
	}
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			if _, err := exec.LookPath("fusermount"); err != nil {
				return false, "not root and no fusermount3 (apt-get install fuse3)"
			}
		}
	}
	return true, ""
}

// Mount mounts a fault file system over backing at mountpoint. Both
// directories must exist; backing must be one file system.
func Mount(backing, mountpoint string) (*FS, error) {
	backing, err := filepath.Abs(backing)
	if err != nil {
		return nil, fmt.Errorf("faultfs: %w", err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(backing, &st); err != nil {
		return nil, fmt.Errorf("faultfs: backing %s: %w", backing, err)
	}
	f := &FS{backing: backing, mountpoint: mountpoint, files: map[uint64]*undo{}}
	lr := &fs.LoopbackRoot{Path: backing, Dev: uint64(st.Dev)}
	lr.NewNode = func(r *fs.LoopbackRoot, _ *fs.Inode, _ string, _ *syscall.Stat_t) fs.InodeEmbedder {
		return &node{LoopbackNode: fs.LoopbackNode{RootData: r}, fsys: f}
	}
	f.root = &node{LoopbackNode: fs.LoopbackNode{RootData: lr}, fsys: f}
	lr.RootNode = f.root
	// A leftover trash of an earlier run that was neither cut nor
	// unmounted cleanly (its process died): its files were removed.
	if err := os.RemoveAll(filepath.Join(backing, trashName)); err != nil {
		return nil, fmt.Errorf("faultfs: %w", err)
	}
	zero := time.Duration(0)
	opts := &fs.Options{
		MountOptions: fuse.MountOptions{
			FsName:      "faultfs:" + backing,
			Name:        "faultfs",
			DirectMount: true, // as root: no fusermount needed
		},
		// No attribute or entry cache: Cut and tests look at the
		// backing directory, and the kernel must ask for every name.
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
	}
	server, err := fs.Mount(mountpoint, f.root, opts)
	if err != nil {
		return nil, fmt.Errorf("faultfs: mount %s: %w", mountpoint, err)
	}
	f.server = server
	return f, nil
}

// Mountpoint is where the file system is mounted.
func (f *FS) Mountpoint() string { return f.mountpoint }

// Cut is the power loss: from now on every operation on the mount fails
// with EIO, and the backing directory is rolled back to what was synced.
// Kill the processes using the mount after Cut, then Unmount.
func (f *FS) Cut() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead.Load() {
		return errors.New("faultfs: already cut")
	}
	f.dead.Store(true)
	var errs []error
	f.filesMu.Lock()
	for ino, u := range f.files {
		if err := u.restore(); err != nil {
			errs = append(errs, fmt.Errorf("faultfs: restore inode %d: %w", ino, err))
		}
		u.close()
	}
	f.files = map[uint64]*undo{}
	f.filesMu.Unlock()
	f.nsMu.Lock()
	for i := len(f.journal) - 1; i >= 0; i-- {
		if err := f.journal[i].undo(f.backing); err != nil {
			errs = append(errs, fmt.Errorf("faultfs: undo %s: %w", f.journal[i], err))
		}
	}
	f.journal = nil
	f.nsMu.Unlock()
	if err := os.RemoveAll(filepath.Join(f.backing, trashName)); err != nil {
		errs = append(errs, fmt.Errorf("faultfs: %w", err))
	}
	return errors.Join(errs...)
}

// Unmount detaches the mount; later calls do nothing. Without Cut before,
// it is a clean shutdown:
// everything written stays. It retries for up to 10 s while files are
// still open (a killed process's descriptors close shortly after its
// death), then detaches lazily.
func (f *FS) Unmount() error {
	f.unmountMu.Lock()
	defer f.unmountMu.Unlock()
	if f.unmounted {
		return nil
	}
	f.unmounted = true
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; {
		if err = f.server.Unmount(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			if lerr := syscall.Unmount(f.mountpoint, syscall.MNT_DETACH); lerr != nil {
				return fmt.Errorf("faultfs: unmount %s: %w (lazy: %v)", f.mountpoint, err, lerr)
			}
			err = nil
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.dead.Load() {
		f.dead.Store(true)
		f.filesMu.Lock()
		for _, u := range f.files {
			u.close()
		}
		f.files = map[uint64]*undo{}
		f.filesMu.Unlock()
		f.nsMu.Lock()
		f.journal = nil
		f.nsMu.Unlock()
		if err := os.RemoveAll(filepath.Join(f.backing, trashName)); err != nil {
			return fmt.Errorf("faultfs: %w", err)
		}
	}
	return nil
}

// enter is called at the start of an operation that changes the backing
// directory: it holds off Cut until leave, and fails after it.
func (f *FS) enter() syscall.Errno {
	f.mu.RLock()
	if f.dead.Load() {
		f.mu.RUnlock()
		return syscall.EIO
	}
	return 0
}

func (f *FS) leave() { f.mu.RUnlock() }

// dirty returns the undo record of inode ino, made from the open
// descriptor fd (or the path, when fd < 0) on its first change since the
// last sync. The caller holds filesMu.
func (f *FS) dirty(ino uint64, fd int, path string) (*undo, error) {
	if u := f.files[ino]; u != nil {
		return u, nil
	}
	// A descriptor of our own, read-write and without O_APPEND, that
	// follows the inode through renames and unlinks.
	if fd >= 0 {
		path = fmt.Sprintf("/proc/self/fd/%d", fd)
	}
	file, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	st, err := file.Stat()
	if err != nil {
		_ = file.Close()
		return nil, err
	}
	u := &undo{f: file, size: st.Size(), pages: map[int64][]byte{}}
	f.files[ino] = u
	return u, nil
}

// synced makes inode ino's data durable and commits the journal up to its
// last entry.
func (f *FS) synced(ino uint64) {
	f.filesMu.Lock()
	if u := f.files[ino]; u != nil {
		u.close()
		delete(f.files, ino)
	}
	f.filesMu.Unlock()
	f.commit(ino)
}
