package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestLoggedPagesAreTheChangedPages is the oracle for the log's knowledge
// of bbolt (walpage.go: "a commit writes exactly the pages it allocated",
// derived from the freelists). For every commit of a deterministic run that
// inserts, updates, deletes (so bbolt merges and rebalances nodes), drops
// and creates buckets, writes overflow values, and then reuses the freed
// pages, the pages the log recorded for the commit are exactly the pages
// whose bytes changed in the database file (images before and after).
// A page changed but not recorded would be lost at replay; a page
// recorded but unchanged means the derivation is off. Re-run on every
// bbolt bump (go.mod).
func TestLoggedPagesAreTheChangedPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	e := testEngine(t, path, Options{})
	w := e.wal
	ps := w.pageSize
	rng := rand.New(rand.NewPCG(13, 13))
	ctx := context.Background()
	key := func(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }
	val := func(n int) []byte {
		v := make([]byte, n)
		for i := range v {
			v[i] = byte('a' + rng.IntN(26))
		}
		return v
	}

	poisonFile, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer poisonFile.Close()
	poison := bytes.Repeat([]byte{0xA5}, ps)

	var (
		commits, reused int
		kinds           = map[string]int{}
	)
	// commit runs fn as one commit and compares the log with the file.
	commit := func(kind string, fn func(tx *bolt.Tx) error) {
		t.Helper()
		// Every page bbolt may allocate (free or pending in the freelist,
		// or past the high water mark) is poisoned first, so a page it
		// rewrites with the bytes it held before still shows as changed,
		// and a page the log records that bbolt never wrote does not.
		// Nothing reads these pages: the current tree does not reference
		// them, and no read transaction is open.
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range slices.Concat(decodeEntries(w.free), ids(w.hwm, uint64(st.Size())/uint64(ps))) {
			if _, err := poisonFile.WriteAt(poison, int64(id)*int64(ps)); err != nil {
				t.Fatal(err)
			}
		}
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cur, gen, off, hwm, inPlace := w.cur, w.gen, w.off, w.hwm, w.inPlace.Load()
		if err := e.Write(ctx, fn); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if w.cur != cur || w.gen != gen || w.inPlace.Load() != inPlace {
			t.Fatalf("%s: the log rotated or fsynced in place; the oracle needs every commit in one log file", kind)
		}
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rec, _, _, ok, err := readRecord(w.files[cur], off, gen, ps)
		if err != nil || !ok {
			t.Fatalf("%s: no record at %d: %v", kind, off, err)
		}
		entries, err := recordEntries(rec, ps)
		if err != nil {
			t.Fatal(err)
		}
		var logged []uint64
		for _, en := range entries {
			for k := 0; k*ps < len(en.pages); k++ {
				id := en.id + uint64(k)
				logged = append(logged, id)
				if got := pageOf(after, id, ps); !bytes.Equal(en.pages[k*ps:(k+1)*ps], got) {
					t.Errorf("%s: the log's image of page %d is not the file's", kind, id)
				}
			}
		}
		slices.Sort(logged)
		var changed []uint64
		for id := 0; id*ps < max(len(before), len(after)); id++ {
			if !bytes.Equal(pageOf(before, uint64(id), ps), pageOf(after, uint64(id), ps)) {
				changed = append(changed, uint64(id))
			}
		}
		if !slices.Equal(logged, changed) {
			t.Fatalf("%s (commit %d): the log recorded pages %v, the file changed pages %v", kind, commits, logged, changed)
		}
		if w.hwm == hwm && len(logged) > 3 {
			reused++ // every page it wrote came from the freelist
		}
		commits++
		kinds[kind]++
	}

	bucket := []byte("oracle")
	commit("create bucket", func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket(bucket)
		return err
	})
	const n = 1200
	order := rng.Perm(n)
	for i := 0; i < n; i += 8 {
		commit("insert", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucket)
			for _, k := range order[i : i+8] {
				if err := b.Put(key(k), val(60+rng.IntN(200))); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for range 10 {
		commit("update", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucket)
			for range 6 {
				if err := b.Put(key(rng.IntN(n)), val(20+rng.IntN(400))); err != nil {
					return err
				}
			}
			return nil
		})
	}
	commit("overflow value", func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Put(key(n+1), val(3*ps))
	})
	leaves := func() int {
		var n int
		_ = e.View(func(tx *bolt.Tx) error { n = tx.Bucket(bucket).Stats().LeafPageN; return nil })
		return n
	}
	full := leaves()
	// Deleting most keys in runs empties leaves: bbolt merges them with
	// their siblings and rebalances the branches, freeing pages.
	for i := 0; i < n-100; i += 50 {
		commit("delete", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucket)
			for k := i; k < i+50; k++ {
				if err := b.Delete(key(k)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	commit("delete overflow", func(tx *bolt.Tx) error { return tx.Bucket(bucket).Delete(key(n + 1)) })
	commit("second bucket", func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("other"))
		if err != nil {
			return err
		}
		for k := range 60 {
			if err := b.Put(key(k), val(200)); err != nil {
				return err
			}
		}
		return nil
	})
	commit("drop bucket", func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("other")) })
	if l := leaves(); l*4 > full {
		t.Fatalf("the deletes left %d of %d leaves: bbolt did not merge and rebalance", l, full)
	}
	if len(w.free)/8 < 20 {
		t.Fatalf("the deletes freed %d pages; the reuse below needs more", len(w.free)/8)
	}
	// Inserting again takes the freed pages before the file grows.
	hwm, reusedBefore := w.hwm, reused
	for i := 0; i < 600; i += 30 {
		commit("reinsert", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucket)
			for k := i; k < i+30; k++ {
				if err := b.Put(key(k), val(100+rng.IntN(100))); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if w.hwm != hwm || reused-reusedBefore < 10 {
		t.Fatalf("reinserting grew the file from page %d to %d, %d commits wrote only freed pages: the run must reuse them",
			hwm, w.hwm, reused-reusedBefore)
	}
	if err := e.Check(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d commits (%v), %d of them only on freed pages; leaves %d before the deletes", commits, kinds, reused, full)
}

// pageOf is page id of a file image, zero past its end.
func pageOf(img []byte, id uint64, ps int) []byte {
	p := make([]byte, ps)
	if at := int(id) * ps; at < len(img) {
		copy(p, img[at:])
	}
	return p
}

// ids is from, from+1, ..., to-1.
func ids(from, to uint64) []uint64 {
	var out []uint64
	for id := from; id < to; id++ {
		out = append(out, id)
	}
	return out
}
