package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// The engine's tests store generic records: an append-only bucket of
// values under increasing IDs and an index from a name to the ID, the
// shape of the writes the schema makes (tickets and their channelId
// index), without the schema.
var (
	bucketItems = []byte("items")
	bucketIndex = []byte("index")
)

// testPrepare creates the test buckets (read-write only).
func testPrepare(readOnly bool) func(b *bolt.DB) error {
	return func(b *bolt.DB) error {
		if readOnly {
			return nil
		}
		return b.Update(func(tx *bolt.Tx) error {
			for _, n := range [][]byte{bucketItems, bucketIndex} {
				if _, err := tx.CreateBucketIfNotExists(n); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

// openEngine opens path with the test buckets.
func openEngine(path string, o Options) (*Engine, error) {
	o.Prepare = testPrepare(o.ReadOnly)
	if o.Fill == nil {
		o.Fill = []BucketFill{{Name: bucketItems, Percent: 0.9}}
	}
	return Open(path, o)
}

// startEngine opens path and runs its commit loop. stop ends both and
// returns Close's error; it runs at the test's end otherwise.
func startEngine(t *testing.T, path string, o Options) (e *Engine, stop func() error) {
	t.Helper()
	e, err := openEngine(path, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go e.Run(ctx)
	var once sync.Once
	stop = func() error {
		once.Do(func() {
			cancel()
			err = e.Close()
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return e, stop
}

func testEngine(t *testing.T, path string, o Options) *Engine {
	t.Helper()
	e, _ := startEngine(t, path, o)
	return e
}

// put stores a record named name with size bytes of payload through the
// group commit and returns its ID.
func put(ctx context.Context, e *Engine, name string, size int) (uint64, error) {
	var id uint64
	err := e.Write(ctx, func(tx *bolt.Tx) error {
		items := tx.Bucket(bucketItems)
		if v := tx.Bucket(bucketIndex).Get([]byte(name)); v != nil {
			id = binary.BigEndian.Uint64(v)
			return nil
		}
		var err error
		if id, err = items.NextSequence(); err != nil {
			return err
		}
		key := binary.BigEndian.AppendUint64(nil, id)
		if err := items.Put(key, []byte(name+"|"+strings.Repeat("x", size))); err != nil {
			return err
		}
		return tx.Bucket(bucketIndex).Put([]byte(name), key)
	})
	return id, err
}

// get reads record id's name.
func get(e *Engine, id uint64) (string, error) {
	var name string
	err := e.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketItems).Get(binary.BigEndian.AppendUint64(nil, id))
		if v == nil {
			return fmt.Errorf("record %d not found", id)
		}
		name, _, _ = strings.Cut(string(v), "|")
		return nil
	})
	return name, err
}
