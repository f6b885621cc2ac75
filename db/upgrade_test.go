package db

import (
	"context"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A file written by an earlier version lacks the buckets added since; it
// must open (read-only for check and the start-up pre-check, then
// read-write) and gain them, not be refused as damaged.
func TestOlderDatabaseIsUpgraded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketTickets, bucketChannels, bucketQueues, bucketPresence, bucketOutbox,
			bucketCustomers, bucketCustomersByPhone, bucketCustomersByContr, bucketMeta} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || b.Close() != nil {
		t.Fatal(err)
	}
	ro, err := Open(path, Options{SiteID: 1, ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open of an older database: %v", err)
	}
	if err := ro.Check(); err != nil {
		t.Fatal(err)
	}
	_ = ro.Close()

	s, err := Open(path, Options{SiteID: 1})
	if err != nil {
		t.Fatalf("open of an older database: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	defer func() { cancel(); _ = s.Close() }()
	if _, err := s.CreateCall(ctx, NewCall{Call: benchCall(1).Call}); err != nil {
		t.Fatalf("call on an upgraded database: %v", err)
	}
	err = s.eng.Bolt().View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				t.Errorf("bucket %s not created on upgrade", name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestForeignBoltFileIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "foreign.db")
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = b.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("something-else")); return err })
	_ = b.Close()
	if s, err := Open(path, Options{SiteID: 1, ReadOnly: true}); err == nil {
		_ = s.Close()
		t.Fatal("a bbolt file of another program opened as an enneo-edge database")
	}
}
