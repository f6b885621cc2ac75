package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

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
