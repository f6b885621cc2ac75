package engine

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// WriteCommitted is answered while its commit's fsync is still held back;
// a Write in the same commit waits for the fsync; both are in the file.
func TestWriteCommittedAnswersBeforeTheFsync(t *testing.T) {
	entered, release := make(chan struct{}, 4), make(chan struct{})
	var once, freed sync.Once
	free := func() { freed.Do(func() { close(release) }) }
	t.Cleanup(free)
	hook := func() {
		entered <- struct{}{}
		once.Do(func() { <-release })
	}
	e := testEngine(t, filepath.Join(t.TempDir(), "edge.db"), Options{hooks: testHooks{beforeLogSync: hook}})
	t.Cleanup(free)
	if e.wal == nil {
		t.Skip("no write-ahead log on this file system")
	}
	ctx := context.Background()
	write := func(key string) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error { return tx.Bucket(bucketIndex).Put([]byte(key), []byte("v")) }
	}
	committed := make(chan error, 1)
	go func() { committed <- e.WriteCommitted(ctx, write("early")) }()
	<-entered // its commit is in bbolt, the fsync held back
	select {
	case err := <-committed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WriteCommitted waited for the held-back fsync")
	}
	durable := make(chan error, 1)
	go func() { durable <- e.Write(ctx, write("late")) }()
	select {
	case err := <-durable:
		t.Fatalf("Write answered (%v) before its fsync", err)
	case <-time.After(100 * time.Millisecond):
	}
	free()
	if err := <-durable; err != nil {
		t.Fatal(err)
	}
	err := e.View(func(tx *bolt.Tx) error {
		for _, k := range []string{"early", "late"} {
			if tx.Bucket(bucketIndex).Get([]byte(k)) == nil {
				t.Errorf("%s is not in the file", k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
