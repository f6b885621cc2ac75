package faultfs

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// node is a loopback node whose changes are journalled or saved for undo.
type node struct {
	*fs.LoopbackNode
	fsys *FS
}

// WrapChild makes every node the loopback creates one of ours.
func (n *node) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	return &node{LoopbackNode: ops.(*fs.LoopbackNode), fsys: n.fsys}
}

func (n *node) isRoot() bool { return n == n.fsys.root }

// rel is the node's path relative to the backing directory.
func (n *node) rel() string { return n.Path(n.fsys.root.EmbeddedInode()) }

func (n *node) abs(name string) string {
	return filepath.Join(n.fsys.backing, n.rel(), name)
}

func (n *node) ino() uint64 { return n.StableAttr().Ino }

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if n.isRoot() && name == trashName {
		return nil, syscall.ENOENT
	}
	return n.LoopbackNode.Lookup(ctx, name, out)
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	h, fl, errno := n.LoopbackNode.OpendirHandle(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return &dirHandle{inner: h.(fs.DirStream), hide: n.isRoot()}, fl, 0
}

// Fsync serves fsync and fdatasync of files and directories alike: the
// inode's data becomes durable and the journal is committed up to its last
// entry.
func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	if errno := n.fsys.enter(); errno != 0 {
		return errno
	}
	defer n.fsys.leave()
	n.fsys.synced(n.ino())
	return 0
}

// created journals a new entry name made by a loopback call.
func (n *node) created(kind opKind, name string, ch *fs.Inode) {
	n.fsys.record(nsOp{kind: kind, path: filepath.Join(n.rel(), name),
		subjects: []uint64{n.ino(), ch.StableAttr().Ino}})
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	if errno := n.fsys.enter(); errno != 0 {
		return nil, nil, 0, errno
	}
	defer n.fsys.leave()
	n.fsys.nsMu.Lock()
	defer n.fsys.nsMu.Unlock()
	var st syscall.Stat_t
	existed := syscall.Lstat(n.abs(name), &st) == nil
	if existed && flags&syscall.O_TRUNC != 0 {
		if errno := n.fsys.saveFrom(st.Ino, -1, n.abs(name), 0); errno != 0 {
			return nil, nil, 0, errno
		}
	}
	ch, fh, fl, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	if !existed {
		n.created(opCreate, name, ch)
	}
	return ch, n.fsys.wrap(fh, ch.StableAttr().Ino), fl, 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if errno := n.fsys.enter(); errno != 0 {
		return nil, errno
	}
	defer n.fsys.leave()
	n.fsys.nsMu.Lock()
	defer n.fsys.nsMu.Unlock()
	ch, errno := n.LoopbackNode.Mkdir(ctx, name, mode, out)
	if errno == 0 {
		n.created(opMkdir, name, ch)
	}
	return ch, errno
}

func (n *node) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if errno := n.fsys.enter(); errno != 0 {
		return nil, errno
	}
	defer n.fsys.leave()
	n.fsys.nsMu.Lock()
	defer n.fsys.nsMu.Unlock()
	ch, errno := n.LoopbackNode.Mknod(ctx, name, mode, rdev, out)
	if errno == 0 {
		n.created(opCreate, name, ch)
	}
	return ch, errno
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if errno := n.fsys.enter(); errno != 0 {
		return nil, errno
	}
	defer n.fsys.leave()
	n.fsys.nsMu.Lock()
	defer n.fsys.nsMu.Unlock()
	ch, errno := n.LoopbackNode.Symlink(ctx, target, name, out)
	if errno == 0 {
		n.created(opCreate, name, ch)
	}
	return ch, errno
}

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if errno := n.fsys.enter(); errno != 0 {
		return nil, errno
	}
	defer n.fsys.leave()
	n.fsys.nsMu.Lock()
	defer n.fsys.nsMu.Unlock()
	ch, errno := n.LoopbackNode.Link(ctx, target, name, out)
	if errno == 0 {
		n.created(opCreate, name, ch)
	}
	return ch, errno
}

// Unlink moves the file to the trash, so that Cut can bring it back.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	if errno := n.fsys.enter(); errno != 0 {
		return errno
	}
	defer n.fsys.leave()
	n.fsys.nsMu.Lock()
	defer n.fsys.nsMu.Unlock()
	var st syscall.Stat_t
	if err := syscall.Lstat(n.abs(name), &st); err != nil {
		return fs.ToErrno(err)
	}
	if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		return syscall.EISDIR
	}
	rel := filepath.Join(n.rel(), name)
	t, err := n.fsys.trash(rel)
	if err != nil {
		return fs.ToErrno(err)
	}
	n.fsys.record(nsOp{kind: opTrash, path: rel, aux: t, subjects: []uint64{n.ino(), st.Ino}})
	return 0
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	if errno := n.fsys.enter(); errno != 0 {
		return errno
	}
	defer n.fsys.leave()
	n.fsys.nsMu.Lock()
	defer n.fsys.nsMu.Unlock()
	var st syscall.Stat_t
	if err := syscall.Lstat(n.abs(name), &st); err != nil {
		return fs.ToErrno(err)
	}
	if err := syscall.Rmdir(n.abs(name)); err != nil {
		return fs.ToErrno(err)
	}
	n.fsys.record(nsOp{kind: opRmdir, path: filepath.Join(n.rel(), name), mode: st.Mode,
		subjects: []uint64{n.ino(), st.Ino}})
	return 0
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*node)
	if !ok || np.fsys != n.fsys {
		return syscall.EXDEV
	}
	if errno := n.fsys.enter(); errno != 0 {
		return errno
	}
	defer n.fsys.leave()
	n.fsys.nsMu.Lock()
	defer n.fsys.nsMu.Unlock()
	from, to := filepath.Join(n.rel(), name), filepath.Join(np.rel(), newName)
	fromAbs, toAbs := n.abs(name), np.abs(newName)
	var st, tst syscall.Stat_t
	if err := syscall.Lstat(fromAbs, &st); err != nil {
		return fs.ToErrno(err)
	}
	subjects := []uint64{st.Ino, n.ino(), np.ino()}
	targetExists := syscall.Lstat(toAbs, &tst) == nil
	if targetExists {
		subjects = append(subjects, tst.Ino)
	}
	if flags&unix.RENAME_EXCHANGE != 0 {
		if err := unix.Renameat2(unix.AT_FDCWD, fromAbs, unix.AT_FDCWD, toAbs, uint(flags)); err != nil {
			return fs.ToErrno(err)
		}
		n.fsys.record(nsOp{kind: opExchange, path: from, aux: to, subjects: subjects})
		return 0
	}
	// The target a rename replaces must come back on Cut: a hard link
	// of it waits in the trash (an empty directory is simply made again).
	var pre *nsOp
	if targetExists && flags&unix.RENAME_NOREPLACE == 0 && tst.Ino != st.Ino {
		if tst.Mode&syscall.S_IFMT == syscall.S_IFDIR {
			pre = &nsOp{kind: opRmdir, path: to, mode: tst.Mode, subjects: subjects, withNext: true}
		} else {
			t, err := n.fsys.linkTrash(toAbs)
			if err != nil {
				return fs.ToErrno(err)
			}
			pre = &nsOp{kind: opTrash, path: to, aux: t, subjects: subjects, withNext: true}
		}
	}
	if err := unix.Renameat2(unix.AT_FDCWD, fromAbs, unix.AT_FDCWD, toAbs, uint(flags)); err != nil {
		if pre != nil && pre.kind == opTrash {
			_ = os.Remove(filepath.Join(n.fsys.backing, trashName, pre.aux))
		}
		return fs.ToErrno(err)
	}
	if pre != nil {
		n.fsys.record(*pre)
	}
	n.fsys.record(nsOp{kind: opRename, path: from, aux: to, subjects: subjects})
	return 0
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if errno := n.fsys.enter(); errno != 0 {
		return nil, 0, errno
	}
	defer n.fsys.leave()
	if flags&syscall.O_TRUNC != 0 {
		if errno := n.fsys.saveFrom(n.ino(), -1, n.abs(""), 0); errno != 0 {
			return nil, 0, errno
		}
	}
	fh, fl, errno := n.LoopbackNode.Open(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return n.fsys.wrap(fh, n.ino()), fl, 0
}

// Setattr saves what a truncate by path cuts off; through an open file,
// the handle does.
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if _, ok := f.(*handle); ok {
		return n.LoopbackNode.Setattr(ctx, f, in, out)
	}
	if errno := n.fsys.enter(); errno != 0 {
		return errno
	}
	defer n.fsys.leave()
	if sz, ok := in.GetSize(); ok {
		if errno := n.fsys.saveFrom(n.ino(), -1, n.abs(""), int64(sz)); errno != 0 {
			return errno
		}
	}
	return n.LoopbackNode.Setattr(ctx, nil, in, out)
}

// CopyFileRange is refused: the kernel then copies with reads and writes,
// which are recorded.
func (n *node) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode, fhOut fs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	return 0, syscall.ENOTSUP
}

// Tmpfile is refused: a file without a name has no journal entry.
func (n *node) Tmpfile(ctx context.Context, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.ENOTSUP
}

// saveFrom saves inode ino's synced content from off to its end before a
// truncate; fd or path reaches the inode.
func (f *FS) saveFrom(ino uint64, fd int, path string, off int64) syscall.Errno {
	f.filesMu.Lock()
	defer f.filesMu.Unlock()
	u, err := f.dirty(ino, fd, path)
	if err != nil {
		return fs.ToErrno(err)
	}
	return fs.ToErrno(u.save(off, math.MaxInt64))
}

// linkTrash puts a hard link of the backing file abs into the trash; the
// caller holds nsMu.
func (f *FS) linkTrash(abs string) (string, error) {
	dir := filepath.Join(f.backing, trashName)
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return "", err
	}
	f.trashSeq++
	name := fmt.Sprint(f.trashSeq)
	return name, os.Link(abs, filepath.Join(dir, name))
}
