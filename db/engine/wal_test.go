package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestWALClearedHalfway: a crash while the logs are being cleared (at a
// clean stop or after a replay) leaves the current log in place, never
// the older one alone, which would roll acknowledged commits back.
func TestWALClearedHalfway(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s := testEngine(t, path, Options{LogFileSize: 128 << 10})
	var ids []uint64
	for i := range 400 {
		id, err := put(context.Background(), s, fmt.Sprint("half-", i), 400)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	cur, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := crashImage(t, t.TempDir(), cur, path, rand.New(rand.NewPCG(3, 4)))
	first := walPaths(p)[clearOrder(s.wal.cur)[0]]
	f, err := os.OpenFile(first, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, walHeaderSize), 0); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	if _, err := RecoverWAL(p); err != nil {
		t.Fatal(err)
	}
	r, err := openEngine(p, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, id := range ids {
		if _, err := get(r, id); err != nil {
			t.Fatalf("record %d after a crash while clearing the log: %v", id, err)
		}
	}
}

// TestWALCleanRestart: a clean stop leaves nothing to replay, a second
// start continues the same file, and the log files keep their space.
func TestWALCleanRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	var ids []uint64
	for round := range 3 {
		s, err := openEngine(path, Options{LogFileSize: 128 << 10})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go s.Run(ctx)
		for i := range 40 {
			id, err := put(ctx, s, fmt.Sprintf("r%d-%d", round, i), 500)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		cancel()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if n, err := RecoverWAL(path); err != nil || n != 0 {
			t.Fatalf("after a clean stop: replayed %d, %v", n, err)
		}
	}
	s := testEngine(t, path, Options{ReadOnly: true})
	for _, id := range ids {
		if _, err := get(s, id); err != nil {
			t.Fatalf("record %d: %v", id, err)
		}
	}
	for _, p := range walPaths(path) {
		if st, err := os.Stat(p); err != nil || st.Size() != 128<<10 {
			t.Fatalf("%s: %v %v", p, st, err)
		}
	}
}

// TestWALRecordLargerThanLog: a commit bigger than a whole log file, or
// than the largest commit the log takes (walMaxPages, lowered here so a
// 200 KiB value is over it), makes the database file durable instead, and
// is still recovered after a crash.
func TestWALRecordLargerThanLog(t *testing.T) {
	for _, maxPages := range []int{0, 24} {
		t.Run(fmt.Sprint("maxPages=", maxPages), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "edge.db")
			s, err := openEngine(path, Options{LogFileSize: 64 << 10, hooks: testHooks{logMaxPages: maxPages}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go s.Run(ctx)
			before := s.LogStats().LargeCommits
			big, err := put(ctx, s, "big", 200<<10)
			if err != nil {
				t.Fatal(err)
			}
			small, err := put(ctx, s, "small", 10)
			if err != nil {
				t.Fatal(err)
			}
			// Both commits rewrite the leaf that holds the big value.
			if n := s.LogStats().LargeCommits - before; n != 2 {
				t.Fatalf("%d commits fsynced in place, want both", n)
			}
			cur, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			p := crashImage(t, t.TempDir(), cur, path, rand.New(rand.NewPCG(1, 2)))
			if _, err := RecoverWAL(p); err != nil {
				t.Fatal(err)
			}
			r, err := openEngine(p, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for _, id := range []uint64{big, small} {
				if _, err := get(r, id); err != nil {
					t.Fatalf("record %d: %v", id, err)
				}
			}
		})
	}
}

// TestWALFromAnotherDatabase: a log that does not belong to the file next
// to it (a backup restored over the file, say) is refused, not replayed;
// a log whose database was deleted is removed.
func TestWALFromAnotherDatabase(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	sa, err := openEngine(a, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go sa.Run(ctx)
	for i := range 30 {
		if _, err := put(ctx, sa, fmt.Sprint("a", i), 100); err != nil {
			t.Fatal(err)
		}
	}
	// Copy a's log while it holds records, as a crash would leave it.
	logs := walPaths(a)
	var saved [2][]byte
	for i, p := range logs {
		if saved[i], err = os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := sa.Close(); err != nil {
		t.Fatal(err)
	}
	// b has moved on further than a's log (the usual case of a restored
	// backup: older or newer, not the same commit).
	sb, err := openEngine(b, Options{DisableWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	go sb.Run(ctx)
	for i := range 60 {
		if _, err := put(ctx, sb, fmt.Sprint("b", i), 100); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	for i, p := range walPaths(b) {
		if err := os.WriteFile(p, saved[i], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, err = openEngine(b, Options{})
	if err == nil || !strings.Contains(err.Error(), "belongs to another database") {
		t.Fatalf("foreign log: %v", err)
	}

	if err := os.Remove(b); err != nil {
		t.Fatal(err)
	}
	if n, err := RecoverWAL(b); err != nil || n != 0 {
		t.Fatalf("log without database: %d %v", n, err)
	}
	for _, p := range walPaths(b) {
		if exists(p) {
			t.Fatalf("%s left behind", p)
		}
	}
}

// TestWrittenPages checks the derivation of a commit's pages from the
// freelists before and after it.
func TestWrittenPages(t *testing.T) {
	for _, tc := range []struct {
		name     string
		prevFree []uint64
		prevHWM  uint64
		free     []uint64
		hwm      uint64
		want     []uint64
	}{
		{"took free pages", []uint64{3, 4, 9}, 12, []uint64{4, 7, 8}, 12, []uint64{3, 9}},
		{"grew the file", []uint64{5}, 10, []uint64{5, 2}, 13, []uint64{10, 11, 12}},
		{"freed only", nil, 10, []uint64{2, 3}, 10, nil},
		{"both", []uint64{2, 6}, 8, []uint64{6, 3}, 10, []uint64{2, 8, 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			free := append([]uint64(nil), tc.free...)
			slices.Sort(free)
			got := writtenPages(encodeEntries(tc.prevFree), tc.prevHWM, encodeEntries(free), tc.hwm, nil)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestWALKeptAfterFailure: a store whose log or checkpoint failed keeps
// its log at Close (a second fsync may falsely succeed after the kernel
// dropped pages), and a read-only open refuses the file until the log is
// replayed.
func TestWALKeptAfterFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s, stop := startEngine(t, path, Options{})
	ctx := context.Background()
	var ids []uint64
	for i := range 20 {
		id, err := put(ctx, s, fmt.Sprint("kept-", i), 200)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	s.fail(errors.New("injected: fdatasync failed"))
	_ = stop()
	if _, ok, err := findLog(walPaths(path), 0); err != nil || !ok {
		t.Fatalf("the log was cleared after a failure: %v %v", ok, err)
	}
	if _, err := openEngine(path, Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "not been replayed") {
		t.Fatalf("read-only open with a pending log: %v", err)
	}
	if n, err := RecoverWAL(path); err != nil || n == 0 {
		t.Fatalf("replay: %d %v", n, err)
	}
	r := testEngine(t, path, Options{ReadOnly: true})
	for _, id := range ids {
		if _, err := get(r, id); err != nil {
			t.Fatalf("record %d: %v", id, err)
		}
	}
}

// TestRecoveredOpenRefusesAPendingLog: with Recovered, Open replays
// nothing itself; a log that is pending again by the time it holds the
// lock (another process wrote it after the caller's RecoverWAL) is refused
// and left for the next replay, never overwritten by a new log.
func TestRecoveredOpenRefusesAPendingLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s, stop := startEngine(t, path, Options{})
	ctx := context.Background()
	id, err := put(ctx, s, "pending", 200)
	if err != nil {
		t.Fatal(err)
	}
	s.fail(errors.New("injected: fdatasync failed")) // keeps the log at Close
	_ = stop()
	if _, err := openEngine(path, Options{Recovered: true}); err == nil || !strings.Contains(err.Error(), "written again after it was replayed") {
		t.Fatalf("Recovered open with a pending log: %v", err)
	}
	if _, ok, err := findLog(walPaths(path), 0); err != nil || !ok {
		t.Fatalf("the refused open touched the log: %v %v", ok, err)
	}
	if n, err := RecoverWAL(path); err != nil || n == 0 {
		t.Fatalf("replay: %d %v", n, err)
	}
	e := testEngine(t, path, Options{Recovered: true})
	if _, err := get(e, id); err != nil {
		t.Fatalf("record after replay and a Recovered open: %v", err)
	}
}

// TestAckWaitsForTheLog: a write is answered only once its log record is
// fsynced, a reader that sees the commit waits for that fsync too, and the
// next commit goes ahead in bbolt meanwhile (the fsync overlaps it).
func TestAckWaitsForTheLog(t *testing.T) {
	entered, release := make(chan struct{}, 4), make(chan struct{})
	var once, freed sync.Once
	free := func() { freed.Do(func() { close(release) }) }
	t.Cleanup(free) // before the store's cleanup: a failed test must not hang it
	hook := func() {
		entered <- struct{}{}
		once.Do(func() { <-release })
	}
	s := testEngine(t, filepath.Join(t.TempDir(), "edge.db"), Options{hooks: testHooks{beforeLogSync: hook}})
	t.Cleanup(free)
	// Grow the file first: a commit that must grow bbolt's memory map
	// waits for the first commit's pin (pending.pin), which this test
	// holds with its fsync, and readers wait behind it.
	if err := s.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketItems).Put([]byte("ballast"), make([]byte, 3<<20))
	}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first := make(chan error, 1)
	go func() {
		_, err := put(ctx, s, "ack-1", 100)
		first <- err
	}()
	<-entered // the first commit is in bbolt, its fsync held back
	second := make(chan error, 1)
	go func() {
		_, err := put(ctx, s, "ack-2", 100)
		second <- err
	}()
	s.wal.mu.Lock()
	durable := s.wal.durable
	s.wal.mu.Unlock()
	var seen int
	for range 200 {
		_ = s.bolt.View(func(tx *bolt.Tx) error { seen = tx.ID(); return nil })
		if uint64(seen) >= durable+2 {
			break // the second commit is in bbolt too
		}
		time.Sleep(time.Millisecond)
	}
	if uint64(seen) < durable+2 {
		t.Fatalf("the second commit waited for the first one's fsync (txid %d, durable %d)", seen, durable)
	}
	read := make(chan error, 1)
	go func() { read <- s.View(func(*bolt.Tx) error { return nil }) }()
	select {
	case err := <-first:
		t.Fatalf("answered before its log fsync: %v", err)
	case err := <-read:
		t.Fatalf("a read of an unlogged commit returned: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	free()
	for _, ch := range []chan error{first, second, read} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
}

// The log reports its fsyncs, checkpoints and bytes to /metrics; without
// the log there is nothing to report.
func TestLogObservers(t *testing.T) {
	for _, disabled := range []bool{false, true} {
		var syncs, checkpoints atomic.Int64
		s := testEngine(t, filepath.Join(t.TempDir(), "edge.db"), Options{
			LogFileSize: 128 << 10, DisableWAL: disabled,
			OnLogSync:    func(time.Duration) { syncs.Add(1) },
			OnCheckpoint: func(time.Duration) { checkpoints.Add(1) },
		})
		for i := range 100 {
			if _, err := put(context.Background(), s, fmt.Sprint("obs-", i), 400); err != nil {
				t.Fatal(err)
			}
		}
		st := s.LogStats()
		if disabled {
			if st != (LogStats{}) || syncs.Load() != 0 || checkpoints.Load() != 0 {
				t.Errorf("without the log: %+v, %d syncs, %d checkpoints", st, syncs.Load(), checkpoints.Load())
			}
			continue
		}
		commits, _ := s.CommitStats()
		if !st.Enabled || st.Bytes < 100*4096 {
			t.Errorf("log stats %+v after 100 writes", st)
		}
		if got := syncs.Load() + st.LargeCommits; got != commits {
			t.Errorf("%d log fsyncs + %d large commits, want %d commits", syncs.Load(), st.LargeCommits, commits)
		}
		if checkpoints.Load() == 0 {
			t.Errorf("no checkpoint reported through a 128 KiB log")
		}
	}
}

// Log files larger than the configured size (an earlier version used
// 64 MiB) are shrunk at open; fallocate alone never gives space back.
func TestLargerLogFilesShrink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	for _, p := range walPaths(path) {
		if err := os.WriteFile(p, make([]byte, 1<<20), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := testEngine(t, path, Options{LogFileSize: 256 << 10})
	if _, err := put(context.Background(), s, "shrunk", 0); err != nil {
		t.Fatal(err)
	}
	for _, p := range walPaths(path) {
		if st, err := os.Stat(p); err != nil || st.Size() != 256<<10 {
			t.Errorf("%s: %v, want 256 KiB", p, err)
		}
	}
}

// NoDurability (bench/profile -floor) must really fsync nothing: no log
// files, bbolt without its fsyncs, and the writes still stored.
func TestNoDurabilityFsyncsNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	e, stop := startEngine(t, path, Options{NoDurability: true})
	if e.wal != nil || !e.bolt.NoSync || !e.bolt.NoGrowSync {
		t.Fatalf("NoDurability: log %v, NoSync %v, NoGrowSync %v; want no log and no bbolt fsync", e.wal != nil, e.bolt.NoSync, e.bolt.NoGrowSync)
	}
	id, err := put(context.Background(), e, "floor", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range walPaths(path) {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("log file %s: %v, want none", p, err)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	e = testEngine(t, path, Options{})
	if name, err := get(e, id); err != nil || name != "floor" {
		t.Errorf("after a clean close: %q, %v", name, err)
	}
}
