package db

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

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
