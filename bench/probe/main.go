// Command probe measures the properties of a machine that bound every
// latency in BENCHMARKS.md: how long fdatasync takes after one overwritten
// page, after 12 pages scattered over the file (a bbolt commit) and after
// the same 12 pages side by side (a write-ahead log record), and how late a
// goroutine sleeping 500 µs wakes (an idle vCPU can be slow to wake, and
// every hand-over between goroutines pays it), and what a round trip to an
// idle goroutine costs.
//
//	go run ./bench/probe -dir /var/lib/enneo-edge
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

func main() {
	dir := flag.String("dir", os.TempDir(), "directory on the disk to probe (where the database lives)")
	n := flag.Int("n", 500, "samples of each")
	flag.Parse()
	if err := run(*dir, *n); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

// filePages is the probe file's size in pages: large enough that 12
// random pages are rarely neighbours.
const filePages = 4096

func run(dir string, n int) error {
	f, err := os.CreateTemp(dir, "probe-*.bin")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	// Write the pages once first: bbolt overwrites pages it has freed.
	if _, err := f.WriteAt(make([]byte, filePages*4096), 0); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name  string
		pages func(i int) []int64
	}{
		{"one page", func(i int) []int64 { return []int64{int64(i % 64)} }},
		{"12 scattered pages", func(int) []int64 {
			ps := make([]int64, 12)
			for j := range ps {
				ps[j] = rnd.Int64N(filePages)
			}
			return ps
		}},
		{"12 contiguous pages", func(i int) []int64 {
			first := int64(i*12) % (filePages - 12)
			ps := make([]int64, 12)
			for j := range ps {
				ps[j] = first + int64(j)
			}
			return ps
		}},
	}
	page := make([]byte, 4096)
	for _, c := range cases {
		syncs := make([]time.Duration, 0, n)
		for i := range n {
			for _, p := range c.pages(i) {
				if _, err := f.WriteAt(page, p*4096); err != nil {
					return err
				}
			}
			t := time.Now()
			if err := syscall.Fdatasync(int(f.Fd())); err != nil {
				return err
			}
			syncs = append(syncs, time.Since(t))
		}
		fmt.Printf("fdatasync after %s in %s: %s\n", c.name, filepath.Clean(dir), summary(syncs))
	}
	lates := make([]time.Duration, 0, n)
	for range n {
		t := time.Now()
		time.Sleep(500 * time.Microsecond)
		lates = append(lates, time.Since(t)-500*time.Microsecond)
	}
	fmt.Printf("sleep(500µs) overshoot: %s\n", summary(lates))
	fmt.Printf("hand-over to a parked goroutine and back: %s\n", summary(handovers(n)))
	return nil
}

// handovers times a round trip to a goroutine that has been idle for a
// millisecond (its thread parked, as the commit loop's is between calls at
// 1,000 calls/s): what each hand-over between goroutines costs a call on
// an otherwise idle machine.
func handovers(n int) []time.Duration {
	ping, pong := make(chan time.Time), make(chan struct{})
	go func() {
		for range ping {
			pong <- struct{}{}
		}
	}()
	defer close(ping)
	out := make([]time.Duration, 0, n)
	for range n {
		time.Sleep(time.Millisecond)
		t := time.Now()
		ping <- t
		<-pong
		out = append(out, time.Since(t))
	}
	return out
}

func summary(d []time.Duration) string {
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[int(p*float64(len(d)-1))] }
	return fmt.Sprintf("p50 %v, p99 %v, max %v (n=%d)", q(0.5).Round(time.Microsecond), q(0.99).Round(time.Microsecond), d[len(d)-1].Round(time.Microsecond), len(d))
}
