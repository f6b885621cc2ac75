// Command probepebble measures the per-call cost of storing one synthetic
// enneo-edge call (ticket, channel index, outbox record, outbox index,
// queue entry, counter) in bbolt and in pebble v2. See README.md.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	bolt "go.etcd.io/bbolt"
)

var ticketVals, outboxVals, queueVals [][]byte

var words = strings.Fields("call inbound outbound agent queue waiting answered hotline billing contract " +
	"customer tariff meter reading invoice address move cancel complaint callback sales support " +
	"energy gas power fibre mobile roaming voicemail transfer hangup ringing")

// makeValues builds pools of JSON-ish values of the brief's sizes; some
// random content so compression is not flattering.
func makeValues() {
	r := rand.New(rand.NewPCG(1, 2))
	text := func(n int) string {
		var b strings.Builder
		for b.Len() < n {
			b.WriteString(words[r.IntN(len(words))])
			b.WriteByte(' ')
		}
		return b.String()[:n]
	}
	hex := func(n int) string {
		const h = "0123456789abcdef"
		b := make([]byte, n)
		for i := range b {
			b[i] = h[r.IntN(16)]
		}
		return string(b)
	}
	pad := func(s string, n int) []byte {
		for len(s) < n {
			s = strings.TrimSuffix(s, "}") + fmt.Sprintf(`,"x%d":"%s"}`, len(s), text(min(40, n-len(s))))
		}
		return []byte(s)
	}
	for i := 0; i < 4096; i++ {
		t := fmt.Sprintf(`{"id":%d,"channelId":"%s","from":"+4930%08d","to":"+4989%08d","direction":"inbound","status":"queued","createdAt":"2026-12-02T02:%02d:%02d.%03dZ","queueId":%d,"agentId":null,"tags":["%s","%s"],"subject":"%s","body":"%s"}`,
			i, hex(32), r.IntN(1e8), r.IntN(1e8), r.IntN(60), r.IntN(60), r.IntN(1000), r.IntN(50), words[r.IntN(len(words))], words[r.IntN(len(words))], text(60), text(480))
		ticketVals = append(ticketVals, pad(t, 900)[:900])
		o := fmt.Sprintf(`{"seq":%d,"kind":"ticket.created","endpoint":"https://api.enneo.example/v1/hooks/%s","attempts":0,"notBefore":"2026-12-02T02:%02d:%02dZ","payload":%s}`,
			i, hex(16), r.IntN(60), r.IntN(60), ticketVals[i][:min(900, 1100-140)])
		outboxVals = append(outboxVals, pad(o, 1100)[:1100])
		q := fmt.Sprintf(`{"queue":%d,"priority":%d,"enqueuedAt":"2026-12-02T02:%02d:%02dZ"}`, r.IntN(50), r.IntN(9), r.IntN(60), r.IntN(60))
		queueVals = append(queueVals, pad(q, 60)[:60])
	}
}

func randChid(r *rand.Rand, c *[32]byte) {
	const h = "0123456789abcdef"
	for i := range c {
		c[i] = h[r.IntN(16)]
	}
}

// seed writes n calls in large unsynced batches, then syncs (bbolt) or
// flushes and compacts (pebble), so the timed run starts from a store at
// rest.
func seed(engine, dir string, n int) error {
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	const chunk = 5000
	ops := make([]*op, chunk)
	for i := range ops {
		ops[i] = &op{}
	}
	var chid [32]byte
	switch engine {
	case "bolt":
		db, err := openBolt(filepath.Join(dir, "bolt.db"), true)
		if err != nil {
			return err
		}
		for base := 0; base < n; base += chunk {
			for i := range ops {
				randChid(r, &chid)
				ops[i].fill(uint64(base+i+1), &chid)
			}
			if err := db.Update(func(tx *bolt.Tx) error { return boltApply(tx, ops) }); err != nil {
				return err
			}
		}
		if err := db.Sync(); err != nil {
			return err
		}
		_ = db.View(func(tx *bolt.Tx) error {
			for _, b := range boltBuckets {
				st := tx.Bucket([]byte(b)).Stats()
				fmt.Fprintf(os.Stderr, "bucket %s: keys %d depth %d leaf pages %d\n", b, st.KeyN, st.Depth, st.LeafPageN)
			}
			return nil
		})
		return db.Close()
	case "pebble":
		db, err := pebble.Open(dir, pebbleOptions())
		if err != nil {
			return err
		}
		var kb [64]byte
		for base := 0; base < n; base += chunk {
			b := db.NewBatch()
			for i := range ops {
				randChid(r, &chid)
				ops[i].fill(uint64(base+i+1), &chid)
				if err := pebbleApply(db, b, ops[i], uint64(base+i+1), &kb); err != nil {
					return err
				}
			}
			if err := b.Commit(pebble.NoSync); err != nil {
				return err
			}
			_ = b.Close()
		}
		if err := db.Flush(); err != nil {
			return err
		}
		// A full manual compaction leaves the seeded data in the bottom
		// level with no compaction debt, so the timed run pays only for
		// what it writes itself.
		if err := db.Compact(context.Background(), []byte("a"), []byte("z"), true); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, db.Metrics().String())
		return db.Close()
	}
	return fmt.Errorf("unknown engine %q", engine)
}

func openStore(variant, dir string) (store, error) {
	switch variant {
	case "bolt-nosync":
		return newBoltStore(filepath.Join(dir, "bolt.db"), true)
	case "bolt-sync":
		return newBoltStore(filepath.Join(dir, "bolt.db"), false)
	case "pebble-nosync-loop":
		return newPebbleStore(dir, false, false)
	case "pebble-sync-loop":
		return newPebbleStore(dir, true, false)
	case "pebble-nosync-each":
		return newPebbleStore(dir, false, true)
	case "pebble-sync-each":
		return newPebbleStore(dir, true, true)
	case "null":
		return newNullStore(), nil
	}
	return nil, fmt.Errorf("unknown variant %q", variant)
}

type sample struct {
	cpu      time.Duration
	sys      time.Duration
	ioWrite  uint64 // /proc/self/io write_bytes
	ioWchar  uint64 // /proc/self/io wchar
	mallocs  uint64
	dirBytes int64
	devBytes uint64 // /proc/diskstats sectors written on vda * 512: machine-wide
	at       time.Time
}

func snap(dir string) sample {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := sample{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), sys: time.Duration(ru.Stime.Nano()), mallocs: ms.Mallocs, dirBytes: dirSize(dir), at: time.Now()}
	if b, err := os.ReadFile("/proc/diskstats"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) > 9 && f[2] == "vda" {
				var v uint64
				fmt.Sscan(f[9], &v)
				s.devBytes = v * 512
			}
		}
	}
	if f, err := os.Open("/proc/self/io"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var v uint64
			if _, err := fmt.Sscanf(sc.Text(), "write_bytes: %d", &v); err == nil {
				s.ioWrite = v
			}
			if _, err := fmt.Sscanf(sc.Text(), "wchar: %d", &v); err == nil {
				s.ioWchar = v
			}
		}
		f.Close()
	}
	return s
}

// dirSize is the apparent size of the store's files (not blocks: pebble
// fallocates each WAL file to ~36 MB up front, which says nothing about
// bytes written).
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

type result struct {
	Variant     string            `json:"variant"`
	Load        string            `json:"load"`
	Writes      int64             `json:"writes"`
	Errors      int64             `json:"errors"`
	Seconds     float64           `json:"seconds"`
	WritesPerS  float64           `json:"writes_per_s"`
	P50us       float64           `json:"p50_us"`
	P99us       float64           `json:"p99_us"`
	CPUus       float64           `json:"cpu_us_per_write"`
	SysUs       float64           `json:"sys_us_per_write"`
	DiskB       float64           `json:"write_bytes_per_write"`
	WcharB      float64           `json:"wchar_per_write"`
	DevB        float64           `json:"device_bytes_per_write_machine_wide"`
	DirGrowthB  float64           `json:"store_growth_per_write"`
	StoreMB     float64           `json:"store_mb_after"`
	Mallocs     float64           `json:"mallocs_per_write"`
	PerCommit   float64           `json:"writes_per_commit"`
	Stats       map[string]uint64 `json:"stats"`
	StatsBefore map[string]uint64 `json:"stats_before"`
}

func run(variant, dir, load string, dur time.Duration, rate, writers int) (*result, error) {
	s, err := openStore(variant, dir)
	if err != nil {
		return nil, err
	}
	next := s.lastID()
	var idMu sync.Mutex
	nextID := func() uint64 { idMu.Lock(); next++; v := next; idMu.Unlock(); return v }
	var hMu sync.Mutex
	var total hist
	var nWrites, nErr int64
	var winWrites atomic.Int64
	before := s.stats()
	runtime.GC()
	s0 := snap(dir)

	worker := func(seedv uint64, jobs <-chan time.Time, closedUntil time.Time) {
		r := rand.New(rand.NewPCG(seedv, 99))
		o := &op{done: make(chan error, 1)}
		var h hist
		var w, e int64
		var chid [32]byte
		do := func(start time.Time) {
			randChid(r, &chid)
			o.fill(nextID(), &chid)
			if err := s.write(o); err != nil {
				e++
			}
			h.add(time.Since(start))
			w++
			winWrites.Add(1)
		}
		if jobs != nil {
			for sched := range jobs {
				do(sched)
			}
		} else {
			for time.Now().Before(closedUntil) {
				do(time.Now())
			}
		}
		hMu.Lock()
		total.merge(&h)
		nWrites += w
		nErr += e
		hMu.Unlock()
	}
	// Per-10 s windows on stderr, to see whether the cost per write drifts
	// during a run (warm-up, flushes, compactions).
	stopWin := make(chan struct{})
	go func() {
		prev, prevN := s0, int64(0)
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopWin:
				return
			case <-t.C:
			}
			cur, n := snap(dir), winWrites.Load()
			if d := n - prevN; d > 0 {
				fmt.Fprintf(os.Stderr, "window %s %s: %d writes, CPU %.0f µs/write, wchar %.0f B/write\n", variant, load, d,
					(cur.cpu-prev.cpu).Seconds()*1e6/float64(d), float64(cur.ioWchar-prev.ioWchar)/float64(d))
			}
			prev, prevN = cur, n
		}
	}()
	defer close(stopWin)
	var wg sync.WaitGroup
	switch load {
	case "open":
		jobs := make(chan time.Time, rate*int(dur/time.Second)+1)
		for i := 0; i < 256; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); worker(uint64(i)+uint64(time.Now().UnixNano()), jobs, time.Time{}) }()
		}
		start := time.Now()
		period := time.Second / time.Duration(rate)
		n := rate * int(dur/time.Second)
		for i := 0; i < n; i++ {
			sched := start.Add(time.Duration(i) * period)
			if d := time.Until(sched); d > 0 {
				time.Sleep(d)
			}
			jobs <- sched
		}
		close(jobs)
	case "closed":
		until := time.Now().Add(dur)
		for i := 0; i < writers; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); worker(uint64(i)+uint64(time.Now().UnixNano()), nil, until) }()
		}
	default:
		return nil, fmt.Errorf("unknown load %q", load)
	}
	wg.Wait()
	s1 := snap(dir)
	after := s.stats()
	if err := s.close(); err != nil {
		return nil, err
	}
	w := float64(nWrites)
	secs := s1.at.Sub(s0.at).Seconds()
	res := &result{Variant: variant, Load: load, Writes: nWrites, Errors: nErr, Seconds: secs, WritesPerS: w / secs,
		P50us: total.quantile(0.5).Seconds() * 1e6, P99us: total.quantile(0.99).Seconds() * 1e6,
		CPUus:      (s1.cpu - s0.cpu).Seconds() * 1e6 / w,
		SysUs:      (s1.sys - s0.sys).Seconds() * 1e6 / w,
		DiskB:      float64(s1.ioWrite-s0.ioWrite) / w,
		WcharB:     float64(s1.ioWchar-s0.ioWchar) / w,
		DevB:       float64(s1.devBytes-s0.devBytes) / w,
		DirGrowthB: float64(s1.dirBytes-s0.dirBytes) / w,
		StoreMB:    float64(s1.dirBytes) / (1 << 20),
		Mallocs:    float64(s1.mallocs-s0.mallocs) / w,
		Stats:      after, StatsBefore: before}
	if c := after["commits"] - before["commits"]; c > 0 {
		res.PerCommit = w / float64(c)
	}
	return res, nil
}

func main() {
	dir := flag.String("dir", "", "store directory (seed: created; run: an existing seeded copy)")
	engine := flag.String("engine", "bolt", "seed: bolt or pebble")
	n := flag.Int("n", 200000, "seed: calls to pre-seed")
	variant := flag.String("variant", "", "run: bolt-nosync, bolt-sync, pebble-{sync,nosync}-{loop,each}")
	load := flag.String("load", "open", "run: open (paced) or closed (concurrent writers)")
	dur := flag.Duration("dur", 10*time.Second, "run: duration")
	rate := flag.Int("rate", 1000, "run open: writes per second")
	writers := flag.Int("writers", 64, "run closed: concurrent writers")
	flag.Parse()
	makeValues()
	switch flag.Arg(0) {
	case "seed":
		if err := os.MkdirAll(*dir, 0o755); err != nil {
			fail(err)
		}
		if err := seed(*engine, *dir, *n); err != nil {
			fail(err)
		}
	case "run":
		r, err := run(*variant, *dir, *load, *dur, *rate, *writers)
		if err != nil {
			fail(err)
		}
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
	case "table":
		if err := table(flag.Args()[1:]); err != nil {
			fail(err)
		}
	default:
		fail(fmt.Errorf("usage: probepebble seed|run|table [flags]"))
	}
}

func fail(err error) { fmt.Fprintln(os.Stderr, "probepebble:", err); os.Exit(1) }

// hist is a log-linear latency histogram (32 sub-buckets per power of
// two, ~3 % resolution), allocation-free on the hot path.
type hist struct{ b [64 * 32]uint64 }

func bucket(ns uint64) int {
	if ns < 32 {
		return int(ns)
	}
	e := 63 - bits.LeadingZeros64(ns) // position of top bit, >= 5
	return (e-4)*32 + int((ns>>(e-5))&31)
}

func bucketLow(i int) uint64 {
	if i < 32 {
		return uint64(i)
	}
	e := i/32 + 4
	return (uint64(32) | uint64(i%32)) << (e - 5)
}

func (h *hist) add(d time.Duration) { h.b[bucket(uint64(d))]++ }
func (h *hist) merge(o *hist) {
	for i := range h.b {
		h.b[i] += o.b[i]
	}
}
func (h *hist) quantile(q float64) time.Duration {
	var n uint64
	for _, c := range h.b {
		n += c
	}
	target := uint64(q * float64(n))
	var acc uint64
	for i, c := range h.b {
		acc += c
		if acc > target {
			return time.Duration(bucketLow(i))
		}
	}
	return 0
}
