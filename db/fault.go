package db

import (
	"errors"
	"fmt"
	"syscall"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Fatal is closed when a commit failed with an error that leaves the
// on-disk state unknown. Every later write answers ErrFailed; the process
// should answer what is in flight and exit so it restarts from the file.
func (s *Store) Fatal() <-chan struct{} { return s.fatal }

// isFull reports whether a commit failed only because there was no room:
// the size cap (bbolt refuses to allocate before writing anything) or a full
// disk while the new pages were written. Both roll back before the meta page
// is touched, so the committed state is the previous one and later writes
// may succeed once space returns.
func isFull(err error) bool {
	return errors.Is(err, berrors.ErrMaxSizeReached) || errors.Is(err, syscall.ENOSPC)
}

// coreBuckets are in every enneo-edge database since the first version.
// Buckets added later are created by the first read-write Open, so a file
// written by an older version is upgraded, not refused.
var coreBuckets = [][]byte{bucketTickets, bucketChannels, bucketOutbox, bucketMeta}

// hasBuckets makes sure a file opened read-only is an enneo-edge database.
func hasBuckets(tx *bolt.Tx) error {
	for _, name := range coreBuckets {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("bucket %s missing (not an enneo-edge database?)", name)
		}
	}
	return nil
}

// openBolt opens the file and turns a bbolt panic on a damaged file into an
// error, so the operator reads what to do instead of a stack trace.
func openBolt(path string, o *bolt.Options) (b *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	return bolt.Open(path, 0o600, o)
}

// QuickCheck reads what a start needs intact: the meta pages (read at
// open), the root of every bucket and the first and last leaf of each. It
// finds a damaged header or a truncated file in milliseconds; Check walks
// every page and finds the rest.
func (s *Store) QuickCheck() error {
	return s.view(func(tx *bolt.Tx) error {
		if err := hasBuckets(tx); err != nil {
			return err
		}
		for _, name := range allBuckets {
			b := tx.Bucket(name)
			if b == nil {
				continue // added by a later version; Open creates it
			}
			c := b.Cursor()
			c.First()
			c.Last()
		}
		return nil
	})
}
