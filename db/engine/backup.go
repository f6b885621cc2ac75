package engine

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// maxSnapshotTime bounds the read transaction that copies the file. A read
// transaction blocks a commit that must grow bbolt's memory map, so it is
// never held for as long as a client takes to read: only for one copy at
// disk speed, and not even that on a disk so slow that calls would notice.
const maxSnapshotTime = 2 * time.Minute

// Backup is a consistent copy of the whole file, taken while the store
// keeps committing. BeginBackup copies the pinned state to an unlinked
// temporary file next to the database at disk speed and releases the read
// transaction before anything is sent, so however slowly a client reads,
// no commit waits for it. Read it (it is an io.Reader) and Close it.
type Backup struct {
	e    *Engine
	f    *os.File
	size int64
}

// BeginBackup copies the current committed state. Every write acknowledged
// before it returns is in the backup. Only one backup is open at a time
// (ErrBackupBusy), and the copy needs as much free disk as the database.
func (e *Engine) BeginBackup() (*Backup, error) {
	if !e.backingUp.CompareAndSwap(false, true) {
		return nil, ErrBackupBusy
	}
	b, err := e.snapshot()
	if err != nil {
		e.backingUp.Store(false)
		return nil, fmt.Errorf("begin backup of %s: %w", e.path, err)
	}
	return b, nil
}

func (e *Engine) snapshot() (*Backup, error) {
	// The temporary file is unlinked at once: a crash or a client that
	// goes away leaves nothing behind once the descriptor is closed.
	f, err := os.CreateTemp(filepath.Dir(e.path), ".backup-*")
	if err != nil {
		return nil, err
	}
	_ = os.Remove(f.Name())
	size, err := e.copyTo(f)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &Backup{e: e, f: f, size: size}, nil
}

// copyTo writes the committed state to f under one read transaction.
func (e *Engine) copyTo(f *os.File) (int64, error) {
	tx, err := e.bolt.Begin(false)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	if e.wal != nil {
		if err := e.wal.waitDurable(uint64(tx.ID())); err != nil {
			return 0, err
		}
	}
	size := tx.Size()
	if free, ok := FreeBytes(filepath.Dir(e.path)); ok && free < uint64(size)+uint64(minFreeAfterBackup) {
		return 0, fmt.Errorf("%w: a backup needs %d bytes of free disk beside the database, %d are free", ErrFull, size, free)
	}
	// The deadline cuts a copy to a disk that stalls: writes to f fail
	// once it passes, which ends WriteTo and the transaction with it.
	n, err := tx.WriteTo(deadlineWriter{f: f, until: time.Now().Add(maxSnapshotTime)})
	if err != nil {
		return n, fmt.Errorf("copy to a temporary file: %w", err)
	}
	if n != size {
		return n, fmt.Errorf("copy to a temporary file: wrote %d of %d bytes", n, size)
	}
	return n, nil
}

// minFreeAfterBackup is the disk a backup's copy leaves for the calls.
const minFreeAfterBackup = 64 << 20

// errSnapshotTooSlow ends a copy that outlasts maxSnapshotTime.
var errSnapshotTooSlow = fmt.Errorf("the copy took longer than %s; the disk is too slow or too busy", maxSnapshotTime)

type deadlineWriter struct {
	f     *os.File
	until time.Time
}

func (w deadlineWriter) Write(p []byte) (int, error) {
	if time.Now().After(w.until) {
		return 0, errSnapshotTooSlow
	}
	return w.f.Write(p)
}

// FreeBytes is what the file system holding dir has left for an
// unprivileged writer; ok is false when it cannot be asked.
func FreeBytes(dir string) (uint64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return st.Bavail * uint64(st.Bsize), true
}

// Size is the exact number of bytes the backup holds.
func (b *Backup) Size() int64 { return b.size }

// Read reads the copy.
func (b *Backup) Read(p []byte) (int, error) {
	if b.f == nil {
		return 0, os.ErrClosed
	}
	return b.f.Read(p)
}

// WriteTo writes the whole copy to w.
func (b *Backup) WriteTo(w io.Writer) (int64, error) {
	n, err := io.Copy(w, b.f)
	if err != nil {
		return n, fmt.Errorf("write backup: %w", err)
	}
	return n, nil
}

// Close frees the copy and lets the next backup begin. It is safe to call
// more than once.
func (b *Backup) Close() error {
	if b.f == nil {
		return nil
	}
	err := b.f.Close()
	b.f = nil
	b.e.backingUp.Store(false)
	return err
}
