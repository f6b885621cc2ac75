package db

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/db/engine"
)

// tuningVariants are the choices tuning.go made and the settings they
// replaced, measured side by side in one run.
var tuningVariants = []struct {
	name string
	o    Options
	tune func(*engine.Options)
}{
	{"chosen", Options{}, nil},
	{"no-wal", Options{DisableWAL: true}, nil},
	// The log needs the freelist in the file, so this one runs without it.
	{"no-freelist-sync", Options{DisableWAL: true}, func(eo *engine.Options) { eo.NoFreelistSync = true }},
	{"default-fill", Options{}, func(eo *engine.Options) { eo.Fill = nil }},
}

// BenchmarkCreateCallTuning compares the write path under each variant,
// serial (one commit per call) and
// with 64 concurrent callers (group commit). Run the variants interleaved
// several times (BENCHMARKS.md): the disk's noise is larger than most
// differences.
func BenchmarkCreateCallTuning(b *testing.B) {
	for _, v := range tuningVariants {
		for _, par := range []int{1, 32} {
			b.Run(v.name+"/callers="+map[int]string{1: "1", 32: "64"}[par], func(b *testing.B) {
				o := v.o
				o.SiteID = 3
				s, err := open(filepath.Join(b.TempDir(), "edge.db"), o, v.tune)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				go s.Run(ctx)
				defer func() { cancel(); _ = s.Close() }()
				var n atomic.Int64
				defer reportPageBytes(b, s, s.eng.Bolt().Stats(), &n)
				b.ReportAllocs()
				if par == 1 {
					for b.Loop() {
						if _, err := s.CreateCall(ctx, benchCall(n.Add(1))); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				b.SetParallelism(par)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := s.CreateCall(ctx, benchCall(n.Add(1))); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// TestFreelistIsSynced: with the freelist on disk, opening a database reads
// a few pages whatever its size; without, bbolt walks the whole file (the
// 1M-customer, 1M-ticket start-up in BENCHMARKS.md). Checked on the file's
// meta pages, not on a time that would flake.
func TestFreelistIsSynced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s, stop := startStore(t, path, Options{SiteID: 3})
	ctx := context.Background()
	var n atomic.Int64
	errs := make(chan error, 64)
	done := make(chan struct{})
	for range 64 {
		go func() {
			for i := n.Add(1); i <= 2000; i = n.Add(1) {
				if _, err := s.CreateCall(ctx, benchCall(i)); err != nil {
					errs <- err
					return
				}
			}
			done <- struct{}{}
		}()
	}
	for range 64 {
		select {
		case <-done:
		case err := <-errs:
			t.Fatal(err)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !hasSyncedFreelist(t, path) {
		t.Fatal("freelist not synced: every open would scan the file")
	}
	start := time.Now()
	s, err := Open(path, Options{SiteID: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("open: %v", time.Since(start))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// hasSyncedFreelist reads the newest of bbolt's two meta pages: a page
// header (16 bytes), then magic, version, pageSize, flags (4 bytes each),
// the root bucket (16), freelist pgid, high-water pgid and txid (8 each).
// A freelist pgid of all ones means "not synced".
func hasSyncedFreelist(t *testing.T, path string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var best, freelist uint64
	for _, off := range []int64{0, int64(os.Getpagesize())} {
		var m [80]byte
		if _, err := f.ReadAt(m[:], off); err != nil {
			t.Fatal(err)
		}
		if binary.LittleEndian.Uint32(m[16:]) != 0xED0CDAED {
			t.Fatalf("no bbolt meta page at %d", off)
		}
		if txid := binary.LittleEndian.Uint64(m[64:]); txid >= best {
			best, freelist = txid, binary.LittleEndian.Uint64(m[48:])
		}
	}
	return freelist != ^uint64(0)
}

// reportPageBytes adds the bytes of pages bbolt allocated per call: what
// the commits wrote (and fsynced), a number the disk's noise cannot blur.
func reportPageBytes(b *testing.B, s *Store, before bolt.Stats, calls *atomic.Int64) {
	after := s.eng.Bolt().Stats()
	if n := calls.Load(); n > 0 {
		b.ReportMetric(float64(after.TxStats.GetPageAlloc()-before.TxStats.GetPageAlloc())/float64(n), "page-bytes/call")
	}
}
