package db

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/model"
)

// openRaw opens a store without its commit loop or log, for tests that
// write its buckets directly.
func openRaw(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{SiteID: 3, DisableWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// randomQueueID draws IDs in every level of the rank tree: dense recent
// ones, ones far apart and a few near the top of the ID space.
func randomQueueID(r *rand.Rand) int64 {
	switch r.IntN(10) {
	case 0:
		return 1 + r.Int64N(1<<40)
	case 1:
		return (1 << 62) + r.Int64N(1<<20)
	case 2, 3:
		return 1 + r.Int64N(1<<20)
	default:
		return 1 + r.Int64N(600)
	}
}

// checkPositions compares position with the walk for every waiting entry
// and for IDs around them, in every tag (a call's own entry need not be
// indexed for the count of those before it), and the kept index with the
// one derived from the waiting index.
func checkPositions(t *testing.T, tx *bolt.Tx, r *rand.Rand, ids map[int64]int64) {
	t.Helper()
	probe := func(id, tag int64) {
		q := &model.QueueEntry{ID: id, PrimaryTagID: tag}
		if got, want := position(tx, q), positionWalk(tx, q); got != want {
			t.Fatalf("position of %d (tag %d): %d, the walk says %d", id, tag, got, want)
		}
	}
	for id, tag := range ids {
		probe(id, tag)
		probe(id+1, int64(r.IntN(4)))
	}
	for range 20 {
		probe(randomQueueID(r), int64(r.IntN(4)))
	}
	for tag := int64(0); tag < 4; tag++ {
		waits := false
		for _, t := range ids {
			waits = waits || t == tag
		}
		if got := rankAny(tx, tag); got != waits {
			t.Fatalf("a call of tag %d waits: %v, the waiting entries say %v", tag, got, waits)
		}
	}
	want, err := ranksOf(tx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	_ = tx.Bucket(bucketRank).ForEach(func(k, v []byte) error { got[string(k)] = fromU64(v); return nil })
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("kept rank index %v, derived %v", got, want)
	}
}

// TestRankMatchesWalk drives IndexWaiting and UnindexWaiting with random
// entries, tag changes, repeated and missing removals, and checks the
// O(log n) position against the walk it replaced after every batch.
func TestRankMatchesWalk(t *testing.T) {
	s := openRaw(t, filepath.Join(t.TempDir(), "edge.db"))
	defer s.Close()
	r := rand.New(rand.NewPCG(14, 1))
	ids := map[int64]int64{} // waiting: ID -> tag
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for batch := range 60 {
		err := s.eng.Bolt().Update(func(tx *bolt.Tx) error {
			x := schemaTx{tx}
			for range 1 + r.IntN(40) {
				switch op := r.IntN(10); {
				case op < 6 || len(ids) == 0: // add, or re-add with another tag
					id, tag := randomQueueID(r), int64(r.IntN(4))
					if err := x.IndexWaiting(id, tag, at); err != nil {
						return err
					}
					ids[id] = tag
				case op < 9: // remove a waiting one
					for id := range ids {
						if err := x.UnindexWaiting(id); err != nil {
							return err
						}
						delete(ids, id)
						break
					}
				default: // remove one that is not waiting
					if err := x.UnindexWaiting(randomQueueID(r)<<1 | 1<<61); err != nil {
						return err
					}
				}
			}
			checkPositions(t, tx, r, ids)
			return nil
		})
		if err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
	}
	if len(ids) < 50 {
		t.Fatalf("only %d waiting at the end: the test did not build a queue", len(ids))
	}
}

// TestRankDerivedAtOpen: a file without the index (an earlier release) or
// whose waiting index an older binary changed without it opens with the
// index derived again.
func TestRankDerivedAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s := openRaw(t, path)
	err := s.eng.Bolt().Update(func(tx *bolt.Tx) error {
		x := schemaTx{tx}
		for id := int64(1); id <= 300; id++ {
			if err := x.IndexWaiting(id*7, id%3, time.Unix(id, 0)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()

	for _, damage := range []struct {
		name string
		fn   func(tx *bolt.Tx) error
	}{
		{"no index", func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketRank) }},
		{"older binary added and removed calls", func(tx *bolt.Tx) error {
			w := tx.Bucket(bucketWaiting)
			if err := w.Delete(u64(7)); err != nil {
				return err
			}
			return w.Put(u64(5000), waitingValue(2, time.Unix(1, 0)))
		}},
	} {
		b, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Update(damage.fn); err != nil {
			t.Fatal(err)
		}
		_ = b.Close()
		s := openRaw(t, path)
		err = s.view(func(tx *bolt.Tx) error {
			checkPositions(t, tx, rand.New(rand.NewPCG(1, 2)), waitingMap(tx))
			return nil
		})
		_ = s.Close()
		if err != nil {
			t.Fatalf("%s: %v", damage.name, err)
		}
	}
}

func waitingMap(tx *bolt.Tx) map[int64]int64 {
	m := map[int64]int64{}
	for _, e := range waitingEntries(tx) {
		m[e.ID] = e.Tag
	}
	return m
}
