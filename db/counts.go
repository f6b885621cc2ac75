package db

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Tickets and customers are counted in the meta bucket, in the same
// transaction that adds or removes them. Counting the buckets instead
// (bbolt's Stats) reads every leaf page: 30 ms for a million tickets with
// the file in the page cache, half a minute when it is not, on every
// /metrics scrape and status refresh. The meta bucket is written by every
// call already (the outbox count), so the counter costs no extra page.
var counted = []struct {
	bucket, key []byte
}{
	{bucketTickets, metaTickets},
	{bucketCustomers, metaCustomers},
}

// establishCounts stores the counts a file from an earlier version lacks.
// It walks each bucket once, at the first read-write open after an
// upgrade; an empty bucket costs nothing.
func establishCounts(tx *bolt.Tx) error {
	m := tx.Bucket(bucketMeta)
	for _, c := range counted {
		if m.Get(c.key) != nil {
			continue
		}
		if err := m.Put(c.key, u64(int64(tx.Bucket(c.bucket).Stats().KeyN))); err != nil {
			return fmt.Errorf("count %s: %w", c.bucket, err)
		}
	}
	return nil
}

func addCount(tx *bolt.Tx, key []byte, delta int64) error {
	m := tx.Bucket(bucketMeta)
	var n int64
	if v := m.Get(key); len(v) == 8 {
		n = fromU64(v)
	}
	if err := m.Put(key, u64(n+delta)); err != nil {
		return fmt.Errorf("count %s: %w", key, err)
	}
	return nil
}

// storedCount reads a kept count. A file from an earlier version opened
// read-only has none yet, so its bucket is walked.
func storedCount(tx *bolt.Tx, bucket, key []byte) int {
	if v := tx.Bucket(bucketMeta).Get(key); len(v) == 8 {
		return int(fromU64(v))
	}
	return tx.Bucket(bucket).Stats().KeyN
}

// TicketCount is the number of tickets stored.
func (s *Store) TicketCount() (int, error) { return s.count(bucketTickets, metaTickets) }

// CustomerCount is the number of customers in the directory.
func (s *Store) CustomerCount() (int, error) { return s.count(bucketCustomers, metaCustomers) }

func (s *Store) count(bucket, key []byte) (int, error) {
	var n int
	err := s.view(func(tx *bolt.Tx) error {
		n = storedCount(tx, bucket, key)
		return nil
	})
	return n, err
}

// checkCounts compares the kept counts with the buckets, for the full
// check: a difference is a bug in the code that keeps them.
func checkCounts(tx *bolt.Tx) error {
	m := tx.Bucket(bucketMeta)
	for _, c := range counted {
		v := m.Get(c.key)
		if len(v) != 8 {
			continue
		}
		if kept, n := fromU64(v), tx.Bucket(c.bucket).Stats().KeyN; kept != int64(n) {
			return fmt.Errorf("meta %s says %d, bucket %s holds %d", c.key, kept, c.bucket, n)
		}
	}
	return nil
}
