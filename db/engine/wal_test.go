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

// crashImage is the disk after a power loss: for every page of the
// database file, either the version the disk held at the last checkpoint
// or the newest one the process wrote (the page cache may or may not have
// reached the disk, meta pages included), and the log files as they are
// (every acknowledged record was fsynced).
func crashImage(t *testing.T, dir string, durable []byte, live string, rng *rand.Rand) string {
	t.Helper()
	cur, err := os.ReadFile(live)
	if err != nil {
		t.Fatal(err)
	}
	const ps = 4096
	img := make([]byte, max(len(durable), len(cur)))
	for off := 0; off < len(img); off += ps {
		from := durable
		if rng.IntN(2) == 0 || off >= len(durable) {
			from = cur
		}
		if off < len(from) {
			copy(img[off:off+ps], from[off:])
		}
	}
	// Tear meta pages as a power loss in the middle of their write would:
	// one slot, both, or none.
	switch rng.IntN(4) {
	case 0:
		clear(img[metaOffset+8 : metaOffset+40])
	case 1:
		clear(img[ps+metaOffset+8 : ps+metaOffset+40])
	case 2:
		clear(img[metaOffset+8 : metaOffset+40])
		clear(img[ps+metaOffset+8 : ps+metaOffset+40])
	}
	path := filepath.Join(dir, "edge.db")
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	for i, p := range walPaths(live) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(walPaths(path)[i], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// TestWALPowerLoss writes records through a small log that rotates several
// times, then builds crash images that mix the checkpointed file with
// pages written since, and proves that recovery brings back every
// acknowledged record in a file bbolt's check finds sound, and not the commit
// that was never logged.
func TestWALPowerLoss(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	var (
		mu       sync.Mutex
		durable  []byte
		rotation int
	)
	snapshot := func() {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		durable, rotation = b, rotation+1
		mu.Unlock()
	}
	s, err := openEngine(path, Options{LogFileSize: 256 << 10, hooks: testHooks{logRotated: snapshot}})
	if err != nil {
		t.Fatal(err)
	}
	snapshot() // the state the log's first base describes
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)

	acked := map[uint64]string{}
	var amu sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 150 {
				ch := fmt.Sprintf("pl-%d-%d", w, i)
				id, err := put(ctx, s, ch, 300+i%7*200)
				if err != nil {
					t.Error(err)
					return
				}
				amu.Lock()
				acked[id] = ch
				amu.Unlock()
			}
		}()
	}
	wg.Wait()
	// A commit bbolt made but the log never got (power lost in between):
	// it was never acknowledged and must not survive.
	if err := s.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIndex).Put([]byte("never-logged"), []byte{1})
	}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	img, rotations := durable, rotation
	mu.Unlock()
	if rotations < 3 {
		t.Fatalf("the log rotated %d times; the test needs several", rotations-1)
	}

	// changed counts the images the replay had to repair: the test must be
	// able to fail. (Opening an unrepaired image to show the damage is no
	// option: bbolt may loop or overflow its stack on a damaged tree.)
	changed := 0
	for seed := range 12 {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			p := crashImage(t, t.TempDir(), img, path, rand.New(rand.NewPCG(uint64(seed), 7)))
			before, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := RecoverWAL(p); err != nil {
				t.Fatal(err)
			}
			after, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if string(before) != string(after) {
				changed++
			}
			r, err := openEngine(p, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := r.Check(); err != nil {
				t.Fatalf("check after recovery: %v", err)
			}
			for id, ch := range acked {
				name, err := get(r, id)
				if err != nil {
					t.Fatalf("acknowledged record %d (%s): %v", id, ch, err)
				}
				if name != ch {
					t.Fatalf("record %d: name %q, want %q", id, name, ch)
				}
			}
			if err := r.View(func(tx *bolt.Tx) error {
				if tx.Bucket(bucketIndex).Get([]byte("never-logged")) != nil {
					return fmt.Errorf("the commit that was never logged survived")
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
	if changed == 0 {
		t.Fatal("no crash image needed the log: the test proves nothing")
	}

	// The file as the last checkpoint left it, except that the next
	// commit's meta page never reached the disk and the one after tore the
	// checkpoint's own: the file shows the commit before the base.
	t.Run("meta-before-base", func(t *testing.T) {
		p := crashImage(t, t.TempDir(), img, path, rand.New(rand.NewPCG(99, 7)))
		l, ok, err := newestLog(walPaths(p), 4096)
		if err != nil || !ok {
			t.Fatalf("no log in the image: %v", err)
		}
		entries, err := recordEntries(l.records[0], 4096)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if _, err := f.WriteAt(e.pages, int64(e.id)*4096); err != nil {
				t.Fatal(err)
			}
		}
		torn := make([]byte, 32)
		if _, err := f.WriteAt(torn, int64(l.base%2)*4096+metaOffset+8); err != nil {
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
		for id := range acked {
			if _, err := get(r, id); err != nil {
				t.Fatalf("acknowledged record %d: %v", id, err)
			}
		}
	})
}

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

// TestWALRecordLargerThanLog: a commit bigger than a whole log file makes
// the database file durable instead (and is still recovered after a
// crash).
func TestWALRecordLargerThanLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s, err := openEngine(path, Options{LogFileSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	big, err := put(ctx, s, "big", 200<<10)
	if err != nil {
		t.Fatal(err)
	}
	small, err := put(ctx, s, "small", 10)
	if err != nil {
		t.Fatal(err)
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
			got := writtenPages(tc.prevFree, tc.prevHWM, free, tc.hwm, nil)
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
