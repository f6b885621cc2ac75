package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
)

// Tickets and customers are counted in the meta bucket, in the same
// transaction that adds or removes them. Counting the buckets instead
// (bbolt's Stats) reads every leaf page: 30 ms for a million tickets with
// the file in the page cache, 13–33 s when it is not, on every /metrics
// scrape and status refresh. The meta bucket is written by every call
// already (the outbox count), so the counter costs no extra page.
//
// A count is exact once its marker is set. A file from an earlier version
// has neither; its count is then kept relative to zero until a background
// walk (establishCounts) fixes the offset, so a large file starts as fast
// as any other.
type countedBucket struct{ bucket, key, exact []byte }

var counted = []countedBucket{
	{bucketTickets, metaTickets, metaTicketsExact},
	{bucketCustomers, metaCustomers, metaCustomersExact},
}

// startCounts runs in Open's first transaction: an empty bucket's count is
// exact at once, so only a file from an earlier version needs the walk.
func startCounts(tx *bolt.Tx) error {
	m := tx.Bucket(bucketMeta)
	for _, c := range counted {
		if m.Get(c.exact) != nil {
			continue
		}
		if k, _ := tx.Bucket(c.bucket).Cursor().First(); k != nil {
			continue
		}
		if err := m.Put(c.key, u64(0)); err != nil {
			return fmt.Errorf("count %s: %w", c.bucket, err)
		}
		if err := m.Put(c.exact, []byte{1}); err != nil {
			return fmt.Errorf("count %s: %w", c.bucket, err)
		}
	}
	return nil
}

// EstablishCounts walks the buckets whose count is not exact yet (a file
// from an earlier version) and fixes their offset; it reports whether it
// walked. Run it beside Run: the walk reads a snapshot while calls go on,
// and every commit after it has added its change to the kept count, so
// the exact count is the kept one plus (walked − kept at the snapshot). A
// walk cut short by ctx is done again the next time.
func (s *Store) EstablishCounts(ctx context.Context) (walked bool, err error) {
	return s.establishCounts(ctx, nil)
}

// establishCounts is EstablishCounts; beforeFix, when set, runs between a
// count's walk and its fix (tests write there, the case the fix's
// arithmetic is for).
func (s *Store) establishCounts(ctx context.Context, beforeFix func()) (walked bool, err error) {
	pending := false
	err = s.view(func(tx *bolt.Tx) error {
		for _, c := range counted {
			pending = pending || tx.Bucket(bucketMeta).Get(c.exact) == nil
		}
		return nil
	})
	if err != nil || !pending {
		return false, err
	}
	// The walk holds a read transaction, and a commit that must grow
	// bbolt's memory map waits until every read transaction has ended.
	// Reading the file first, outside any transaction, keeps the walk to
	// the ~30 ms a warm cache takes for a million tickets.
	if err := readThrough(ctx, s.path); err != nil {
		return false, err
	}
	for _, c := range counted {
		var n, kept int64
		done := false
		err := s.view(func(tx *bolt.Tx) error {
			m := tx.Bucket(bucketMeta)
			if done = m.Get(c.exact) != nil; done {
				return nil
			}
			kept = keptCount(m, c.key)
			var err error
			n, err = countKeys(ctx, tx.Bucket(c.bucket))
			return err
		})
		if err != nil {
			return walked, fmt.Errorf("count %s: %w", c.bucket, err)
		}
		if done {
			continue
		}
		walked = true
		if beforeFix != nil {
			beforeFix()
		}
		err = s.write(ctx, func(tx *bolt.Tx) error {
			m := tx.Bucket(bucketMeta)
			if m.Get(c.exact) != nil {
				return nil
			}
			if err := m.Put(c.key, u64(keptCount(m, c.key)+n-kept)); err != nil {
				return err
			}
			return m.Put(c.exact, []byte{1})
		})
		if err != nil {
			return walked, fmt.Errorf("count %s: %w", c.bucket, err)
		}
	}
	return walked, nil
}

// readThrough reads the file once, into the page cache.
func readThrough(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for ctx.Err() == nil {
		if _, err := f.Read(buf); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
	}
	return ctx.Err()
}

// countKeys counts a bucket's keys, giving up when ctx ends (a walk of a
// large cold file takes seconds and must not hold up a shutdown).
func countKeys(ctx context.Context, b *bolt.Bucket) (int64, error) {
	var n int64
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return 0, ctx.Err()
		}
	}
	return n, nil
}

func keptCount(m *bolt.Bucket, key []byte) int64 {
	if v := m.Get(key); len(v) == 8 {
		return fromU64(v)
	}
	return 0
}

func addCount(tx *bolt.Tx, key []byte, delta int64) error {
	m := tx.Bucket(bucketMeta)
	if err := m.Put(key, u64(keptCount(m, key)+delta)); err != nil {
		return fmt.Errorf("count %s: %w", key, err)
	}
	return nil
}

// storedCount reads an exact count, or walks the bucket while it is not
// exact yet (an upgraded file before its walk, or opened read-only).
func storedCount(tx *bolt.Tx, bucket, key, exact []byte) int {
	m := tx.Bucket(bucketMeta)
	if m.Get(exact) != nil {
		return int(keptCount(m, key))
	}
	return tx.Bucket(bucket).Stats().KeyN
}

// TicketCount is the number of tickets stored.
func (s *Store) TicketCount() (int, error) { return s.count(counted[0]) }

// CustomerCount is the number of customers in the directory.
func (s *Store) CustomerCount() (int, error) { return s.count(counted[1]) }

func (s *Store) count(c countedBucket) (int, error) {
	var n int
	err := s.view(func(tx *bolt.Tx) error {
		n = storedCount(tx, c.bucket, c.key, c.exact)
		return nil
	})
	return n, err
}

// CheckCounts compares the exact counts with the buckets (a walk: run it
// after Check, on a sound file). A difference is not damage: the kept
// counts feed only /metrics and the status page. It means a bug, or an
// earlier version (which does not count) wrote to the file.
func (s *Store) CheckCounts() error {
	return s.view(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		var errs []error
		for _, c := range counted {
			if m.Get(c.exact) == nil {
				continue
			}
			if kept, n := keptCount(m, c.key), tx.Bucket(c.bucket).Stats().KeyN; kept != int64(n) {
				errs = append(errs, fmt.Errorf("meta %s says %d, bucket %s holds %d", c.key, kept, c.bucket, n))
			}
		}
		return errors.Join(errs...)
	})
}
