package faultfs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// handle is an open file whose changes save the synced content first. It
// offers only the operations below: no passthrough descriptor (the kernel
// would write around it) and no Writev (the bridge then uses Write).
type handle struct {
	lf   *fs.LoopbackFile
	fd   int
	ino  uint64
	fsys *FS
}

// wrap turns a loopback file handle into a recording one.
func (f *FS) wrap(fh fs.FileHandle, ino uint64) fs.FileHandle {
	lf := fh.(*fs.LoopbackFile)
	fd, _ := lf.PassthroughFd()
	return &handle{lf: lf, fd: fd, ino: ino, fsys: f}
}

var (
	_ fs.FileReader    = (*handle)(nil)
	_ fs.FileWriter    = (*handle)(nil)
	_ fs.FileFlusher   = (*handle)(nil)
	_ fs.FileReleaser  = (*handle)(nil)
	_ fs.FileGetattrer = (*handle)(nil)
	_ fs.FileSetattrer = (*handle)(nil)
	_ fs.FileAllocater = (*handle)(nil)
	_ fs.FileLseeker   = (*handle)(nil)
)

// save keeps the synced content of [off, end) of the handle's inode.
func (h *handle) save(off, end int64) syscall.Errno {
	h.fsys.filesMu.Lock()
	defer h.fsys.filesMu.Unlock()
	u, err := h.fsys.dirty(h.ino, h.fd, "")
	if err != nil {
		return fs.ToErrno(err)
	}
	return fs.ToErrno(u.save(off, end))
}

func (h *handle) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if h.fsys.dead.Load() {
		return nil, syscall.EIO
	}
	return h.lf.Read(ctx, buf, off)
}

// Write saves the pages it overwrites. The kernel gives O_APPEND writes
// the file's end as offset (the loopback opens without O_APPEND).
func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if errno := h.fsys.enter(); errno != 0 {
		return 0, errno
	}
	defer h.fsys.leave()
	if errno := h.save(off, off+int64(len(data))); errno != 0 {
		return 0, errno
	}
	return h.lf.Write(ctx, data, off)
}

func (h *handle) Flush(ctx context.Context) syscall.Errno   { return h.lf.Flush(ctx) }
func (h *handle) Release(ctx context.Context) syscall.Errno { return h.lf.Release(ctx) }

func (h *handle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	return h.lf.Getattr(ctx, out)
}

func (h *handle) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	return h.lf.Lseek(ctx, off, whence)
}

// Setattr saves what ftruncate cuts off.
func (h *handle) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if errno := h.fsys.enter(); errno != 0 {
		return errno
	}
	defer h.fsys.leave()
	if sz, ok := in.GetSize(); ok {
		if errno := h.save(int64(sz), 1<<62); errno != 0 {
			return errno
		}
	}
	return h.lf.Setattr(ctx, in, out)
}

// Allocate saves the range a punch, zero, collapse or insert changes;
// plain allocation only grows the size, which restore truncates back.
func (h *handle) Allocate(ctx context.Context, off uint64, size uint64, mode uint32) syscall.Errno {
	if errno := h.fsys.enter(); errno != 0 {
		return errno
	}
	defer h.fsys.leave()
	var errno syscall.Errno
	switch {
	case mode&(unix.FALLOC_FL_COLLAPSE_RANGE|unix.FALLOC_FL_INSERT_RANGE) != 0:
		errno = h.save(int64(off), 1<<62) // everything after off moves
	case mode&(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_ZERO_RANGE) != 0:
		errno = h.save(int64(off), int64(off+size))
	default:
		errno = h.save(0, 0) // only makes the record: the size grows
	}
	if errno != 0 {
		return errno
	}
	return h.lf.Allocate(ctx, off, size, mode)
}

// dirHandle reads a directory through the loopback, hiding the trash in
// the root. It has no Fsyncdir, so that fsync of a directory reaches
// node.Fsync.
type dirHandle struct {
	inner fs.DirStream
	hide  bool
}

func (d *dirHandle) HasNext() bool                        { return d.inner.HasNext() }
func (d *dirHandle) Next() (fuse.DirEntry, syscall.Errno) { return d.inner.Next() }
func (d *dirHandle) Close()                               { d.inner.Close() }

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	r := d.inner.(fs.FileReaddirenter)
	for {
		de, errno := r.Readdirent(ctx)
		if errno != 0 || de == nil || !d.hide || de.Name != trashName {
			return de, errno
		}
	}
}

func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if s, ok := d.inner.(fs.FileSeekdirer); ok {
		return s.Seekdir(ctx, off)
	}
	return syscall.ENOTSUP
}

func (d *dirHandle) Releasedir(ctx context.Context, releaseFlags uint32) {
	if r, ok := d.inner.(fs.FileReleasedirer); ok {
		r.Releasedir(ctx, releaseFlags)
		return
	}
	d.inner.Close()
}
