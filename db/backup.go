package db

import (
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// Backup is a consistent, read-only view of the whole file, taken while the
// store keeps committing: bbolt's copy-on-write pages mean writes after
// BeginBackup do not change what the backup holds. Close it promptly: an
// open backup keeps the pages it sees from being reused, and a commit that
// must grow the file waits for it.
type Backup struct {
	tx *bolt.Tx
}

// BeginBackup pins the current committed state. Every write acknowledged
// before it returns is in the backup.
func (s *Store) BeginBackup() (*Backup, error) {
	tx, err := s.bolt.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("begin backup of %s: %w", s.path, err)
	}
	if s.wal != nil {
		if err := s.wal.waitDurable(uint64(tx.ID())); err != nil {
			_ = tx.Rollback()
			return nil, fmt.Errorf("begin backup of %s: %w", s.path, err)
		}
	}
	return &Backup{tx: tx}, nil
}

// Size is the exact number of bytes WriteTo writes.
func (b *Backup) Size() int64 { return b.tx.Size() }

// WriteTo writes the pinned state as a complete bbolt file.
func (b *Backup) WriteTo(w io.Writer) (int64, error) {
	n, err := b.tx.WriteTo(w)
	if err != nil {
		return n, fmt.Errorf("write backup: %w", err)
	}
	return n, nil
}

// Close releases the pinned state.
func (b *Backup) Close() error { return b.tx.Rollback() }
