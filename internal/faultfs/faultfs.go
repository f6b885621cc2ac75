package faultfs

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	mu      sync.RWMutex
	dead    atomic.Bool
	dropped Unsynced

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
	f.root = &node{LoopbackNode: &fs.LoopbackNode{RootData: lr}, fsys: f}
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
func (f *FS) Cut() error { return f.cut(nil) }

// CutTorn is a power loss in which some of the unsynced state had reached
// the disk, as the page cache and the journal write back on their own:
// every page changed since its file's last sync independently keeps its
// new content or gets the synced one back, each file keeps its new size or
// its synced one, and a random prefix of the uncommitted name changes
// stays (the journal commits in order). Synced state always survives. The
// same seed over the same state gives the same disk.
func (f *FS) CutTorn(seed uint64) error {
	return f.cut(rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)))
}

// cut rolls back everything (rng nil) or a random part of it.
func (f *FS) cut(rng *rand.Rand) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead.Load() {
		return errors.New("faultfs: already cut")
	}
	f.dead.Store(true)
	var errs []error
	f.filesMu.Lock()
	// In inode order, so that a seed gives the same result.
	inos := make([]uint64, 0, len(f.files))
	for ino := range f.files {
		inos = append(inos, ino)
	}
	slices.Sort(inos)
	for _, ino := range inos {
		u := f.files[ino]
		pages, err := u.restore(rng)
		if err != nil {
			errs = append(errs, fmt.Errorf("faultfs: restore inode %d: %w", ino, err))
		}
		f.dropped.Files++
		f.dropped.Pages += pages
		u.close()
	}
	f.files = map[uint64]*undo{}
	f.filesMu.Unlock()
	f.nsMu.Lock()
	keep := 0
	if rng != nil {
		keep = rng.IntN(len(f.journal) + 1)
		for keep > 0 && f.journal[keep-1].withNext {
			keep-- // a rename and the target it replaced stay or go together
		}
	}
	f.dropped.Names = len(f.journal) - keep
	for i := len(f.journal) - 1; i >= keep; i-- {
		if err := f.journal[i].undo(f.backing); err != nil {
			errs = append(errs, fmt.Errorf("faultfs: undo %s: %w", f.journal[i], err))
		}
	}
	f.journal = nil
	f.nsMu.Unlock()
	// Removals that stay (committed or in the kept prefix) are final.
	if err := os.RemoveAll(filepath.Join(f.backing, trashName)); err != nil {
		errs = append(errs, fmt.Errorf("faultfs: %w", err))
	}
	return errors.Join(errs...)
}

// Unsynced counts state a power loss would lose.
type Unsynced struct {
	Files int // files whose content or size differ from their last sync
	Pages int // 4 KiB pages of synced content saved for them
	Names int // namespace changes not yet committed (creates, renames, removals)
}

// Dropped reports what Cut or CutTorn undid (zero before): a test can tell
// that its cut hit unsynced state. After CutTorn, Files counts every file
// that had unsynced changes and Pages the pages given their synced
// content back.
func (f *FS) Dropped() Unsynced {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.dropped
}

// Pending reports what a Cut now would undo, so that a test can cut at a
// moment that loses something (it may change before the Cut).
func (f *FS) Pending() Unsynced {
	f.filesMu.Lock()
	u := Unsynced{Files: len(f.files)}
	for _, r := range f.files {
		u.Pages += len(r.pages)
	}
	f.filesMu.Unlock()
	f.nsMu.Lock()
	u.Names = len(f.journal)
	f.nsMu.Unlock()
	return u
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
