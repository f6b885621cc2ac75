// Command probe measures the two properties of a machine that bound every
// latency in BENCHMARKS.md: how long fdatasync of one overwritten page takes
// (a bbolt commit is two of them) and how late a goroutine sleeping 500 µs
// wakes (an idle vCPU can be slow to wake, and every hand-over between
// goroutines pays it).
//
//	go run ./bench/probe -dir /var/lib/enneo-edge
package main

import (
	"flag"
	"fmt"
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

func run(dir string, n int) error {
	f, err := os.CreateTemp(dir, "probe-*.bin")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	page := make([]byte, 4096)
	// Write the pages once first: bbolt overwrites pages it has freed.
	for i := range 64 {
		if _, err := f.WriteAt(page, int64(i)*4096); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	syncs := make([]time.Duration, 0, n)
	for i := range n {
		if _, err := f.WriteAt(page, int64(i%64)*4096); err != nil {
			return err
		}
		t := time.Now()
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return err
		}
		syncs = append(syncs, time.Since(t))
	}
	lates := make([]time.Duration, 0, n)
	for range n {
		t := time.Now()
		time.Sleep(500 * time.Microsecond)
		lates = append(lates, time.Since(t)-500*time.Microsecond)
	}
	fmt.Printf("fdatasync of one page in %s: %s\n", filepath.Clean(dir), summary(syncs))
	fmt.Printf("sleep(500µs) overshoot: %s\n", summary(lates))
	return nil
}

func summary(d []time.Duration) string {
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[int(p*float64(len(d)-1))] }
	return fmt.Sprintf("p50 %v, p99 %v, max %v (n=%d)", q(0.5).Round(time.Microsecond), q(0.99).Round(time.Microsecond), d[len(d)-1].Round(time.Microsecond), len(d))
}
