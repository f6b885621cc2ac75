package engine

import (
	"errors"
	"fmt"
	"syscall"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// boltOptions are the bbolt settings, chosen by measurement (BENCHMARKS.md).
//
// The freelist is written at every commit (NoFreelistSync off). With it
// off, bbolt rebuilds the freelist at open by walking every page of the
// file: on a database with a million customers and a million tickets
// (4 GB) that took 1.9 s warm and 7.6 s cold, against a start-up budget of
// 500 ms; with the freelist synced, the same open takes well under a
// millisecond. The cost on the hot path is small because tickets are
// append-mostly, so the freelist stays a page or two, written in the same
// fdatasync as the commit's other pages. A file written with the old
// setting pays one scan at its first open, then is converted. The log
// (wal.go) needs it too: it derives a commit's pages from the freelists.
//
// The map freelist keeps allocation and release O(1) when many pages are
// free (after the outbox drains a long backlog).
func boltOptions(o Options) *bolt.Options {
	return &bolt.Options{
		Timeout:        o.OpenTimeout,
		MaxSize:        int(o.MaxSize),
		ReadOnly:       o.ReadOnly,
		OpenFile:       o.OpenFile,
		NoFreelistSync: o.NoFreelistSync,
		FreelistType:   bolt.FreelistMapType,
	}
}

// setFill sets the fill percents the schema asked for in this write
// transaction (bbolt does not store them).
func (e *Engine) setFill(tx *bolt.Tx) {
	for _, f := range e.fill {
		if b := tx.Bucket(f.Name); b != nil {
			b.FillPercent = f.Percent
		}
	}
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

// isFull reports whether a commit failed only because there was no room:
// the size cap (bbolt refuses to allocate before writing anything) or a full
// disk while the new pages were written. Both roll back before the meta page
// is touched, so the committed state is the previous one and later writes
// may succeed once space returns.
func isFull(err error) bool {
	return errors.Is(err, berrors.ErrMaxSizeReached) || errors.Is(err, syscall.ENOSPC)
}
