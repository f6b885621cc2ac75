package db

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/model"
)

// derivedDiffer names the first derived index whose kept content is not
// what Open would derive from the records, or "".
func derivedDiffer(tx *bolt.Tx) string {
	ranks, err := ranksOf(tx)
	if err != nil {
		return err.Error()
	}
	rankWant := map[string][]byte{}
	for k, n := range ranks {
		rankWant[string(k)] = u64(n)
	}
	since, err := waitingSinceOf(tx)
	if err != nil {
		return err.Error()
	}
	busy, err := busyOf(tx)
	if err != nil {
		return err.Error()
	}
	for _, ix := range []struct {
		bucket []byte
		want   map[string][]byte
	}{{bucketRank, rankWant}, {bucketWaitingSince, since}, {bucketAgentsBusy, busy}, {bucketOnlineBySkill, bySkillOf(tx)}} {
		got := map[string][]byte{}
		_ = tx.Bucket(ix.bucket).ForEach(func(k, v []byte) error { got[string(k)] = v; return nil })
		if len(got) != len(ix.want) {
			return fmt.Sprintf("%s holds %d keys, derived %d", ix.bucket, len(got), len(ix.want))
		}
		for k, v := range ix.want {
			if !bytes.Equal(got[k], v) {
				return fmt.Sprintf("%s key %x: kept %x, derived %x", ix.bucket, k, got[k], v)
			}
		}
	}
	return ""
}

// TestWaitingCreatedByMatchesWalk: the maximum-wait timer's read of the
// waiting-since index lists exactly the waiting entries the walk of the
// whole waiting index would, in the same order, on random states with
// removals, re-indexing and times before 1970.
func TestWaitingCreatedByMatchesWalk(t *testing.T) {
	s := openRaw(t, filepath.Join(t.TempDir(), "edge.db"))
	defer s.Close()
	r := rand.New(rand.NewPCG(14, 2))
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	at := func() time.Time {
		if r.IntN(20) == 0 {
			return time.Unix(-r.Int64N(1e6), 0).UTC()
		}
		return base.Add(time.Duration(r.Int64N(int64(time.Hour))))
	}
	for batch := range 40 {
		err := s.eng.Bolt().Update(func(tx *bolt.Tx) error {
			x := schemaTx{tx}
			for range 1 + r.IntN(30) {
				id := randomQueueID(r)
				if r.IntN(3) == 0 {
					if err := x.UnindexWaiting(id); err != nil {
						return err
					}
					continue
				}
				if err := x.IndexWaiting(id, int64(r.IntN(3)), at()); err != nil {
					return err
				}
			}
			for range 10 {
				cutoff := at()
				var want []int64
				for _, e := range waitingEntries(tx) {
					if !e.CreatedAt.After(cutoff) {
						want = append(want, e.ID)
					}
				}
				var got []int64
				for _, e := range waitingCreatedBy(tx, cutoff) {
					got = append(got, e.ID)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("batch %d: waiting by %v: %v, the walk says %v", batch, cutoff, got, want)
				}
			}
			if m := derivedDiffer(tx); m != "" {
				t.Fatalf("batch %d: %s", batch, m)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestBusyIndexDerivedAtOpen: presences an older binary wrote without the
// busy index are found by the timers after the next open.
func TestBusyIndexDerivedAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s := openRaw(t, path)
	_ = s.Close()
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		for id, st := range map[int64]string{1: model.PresenceBeingConnected, 2: model.PresenceIdle, 3: model.PresenceACW} {
			p := &model.Presence{UserID: id, CallRoutingStatus: st, ChatRoutingStatus: model.PresenceOffline}
			if err := putJSON(tx.Bucket(bucketPresence), u64(id), p, "presence"); err != nil {
				return err
			}
		}
		return nil
	})
	_ = b.Close()
	if err != nil {
		t.Fatal(err)
	}
	s = openRaw(t, path)
	defer s.Close()
	var busy []int64
	err = s.view(func(tx *bolt.Tx) error {
		return eachBusyPresence(tx, func(p *model.Presence) error { busy = append(busy, p.UserID); return nil })
	})
	if err != nil || fmt.Sprint(busy) != "[1 3]" {
		t.Fatalf("busy agents after open: %v (%v), want [1 3]", busy, err)
	}
}
