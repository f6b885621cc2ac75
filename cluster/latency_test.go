package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-metrics"
)

// BenchmarkCreateCall measures a write through the leader and through a
// follower of an in-process cluster (three members, real files, loopback
// peers) with 32 writers in flight, and reports the latency percentiles
// and, with CLUSTER_BENCH_METRICS=1, the mean of raft's own timings (where
// a write's time goes: the leader's append, a follower's append, the
// commit, the state machine). The numbers are for BENCHMARKS.md, never
// asserted: `go test -run '^$' -bench CreateCall -benchtime 3000x ./cluster/`.
func BenchmarkCreateCall(b *testing.B) {
	for _, via := range []string{"leader", "follower"} {
		b.Run(via, func(b *testing.B) {
			var sink *metrics.InmemSink
			if os.Getenv("CLUSTER_BENCH_METRICS") != "" {
				sink = metrics.NewInmemSink(time.Hour, time.Hour)
				cfg := metrics.DefaultConfig("")
				cfg.EnableHostname, cfg.EnableRuntimeMetrics, cfg.EnableServiceLabel = false, false, false
				if _, err := metrics.NewGlobal(cfg, sink); err != nil {
					b.Fatal(err)
				}
				defer func() { _, _ = metrics.NewGlobal(cfg, &metrics.BlackholeSink{}) }()
			}
			t := &testing.T{}
			c := newTestCluster(t, 3, nil)
			c.startAll()
			defer stopBenchCluster(c)
			l := c.leader()
			at := l
			if via == "follower" {
				at = c.follower(l)
			}
			s := c.members[at].store
			var (
				mu   sync.Mutex
				lat  []time.Duration
				seq  atomic.Int64
				errs atomic.Int64
			)
			b.SetParallelism(16) // GOMAXPROCS × 16 writers
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					ch := fmt.Sprintf("bench-%s-%d", via, seq.Add(1))
					t0 := time.Now()
					if _, err := s.CreateCall(ctxT(t), testCall(ch)); err != nil {
						errs.Add(1)
						continue
					}
					mine = append(mine, time.Since(t0))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			b.StopTimer()
			if n := errs.Load(); n > 0 {
				b.Fatalf("%d writes failed", n)
			}
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			}
			if sink != nil {
				reportRaftTimings(b, sink)
			}
		})
	}
}

// BenchmarkReadAfterWrite is one client that writes a call through a
// follower and at once reads its ticket back there (a linearizable read:
// the follower waits until it has applied the leader's index), one pair
// at a time, on an otherwise idle cluster: what a PBX sees when its next
// request reads what the previous one wrote. Reported per pair.
func BenchmarkReadAfterWrite(b *testing.B) {
	t := &testing.T{}
	c := newTestCluster(t, 3, nil)
	c.startAll()
	defer stopBenchCluster(c)
	s := c.members[c.follower(c.leader())].store
	var write, read []time.Duration
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		res, err := s.CreateCall(ctxT(t), testCall(fmt.Sprintf("raw-%d", i)))
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, _, err := s.Ticket(res.Answer.TicketID); err != nil {
			b.Fatal(err)
		}
		write, read = append(write, t1.Sub(t0)), append(read, time.Since(t1))
	}
	b.StopTimer()
	slices.Sort(write)
	slices.Sort(read)
	b.ReportMetric(float64(write[len(write)/2].Microseconds())/1000, "write-p50-ms")
	b.ReportMetric(float64(read[len(read)/2].Microseconds())/1000, "read-p50-ms")
	b.ReportMetric(float64(read[len(read)*99/100].Microseconds())/1000, "read-p99-ms")
}

// stopBenchCluster stops the members and removes their files: the
// harness's testing.T of a benchmark runs no cleanups, and each member's
// raft log preallocates 64 MB.
func stopBenchCluster(c *testCluster) {
	for i := range c.members {
		c.stopMember(i)
	}
	// root/001/edge-a: root is the zero testing.T's own temporary directory.
	_ = os.RemoveAll(filepath.Dir(filepath.Dir(c.members[0].dir)))
}

// reportRaftTimings logs the mean and count of each of raft's timers.
func reportRaftTimings(b *testing.B, sink *metrics.InmemSink) {
	var lines []string
	for _, iv := range sink.Data() {
		iv.RLock()
		for name, s := range iv.Samples {
			if strings.Contains(name, "raft") {
				lines = append(lines, fmt.Sprintf("%-70s n=%-6d mean=%7.3f max=%8.3f", name, s.Count, s.Sum/float64(max(s.Count, 1)), s.Max))
			}
		}
		iv.RUnlock()
	}
	sort.Strings(lines)
	// stderr: a benchmark's b.Log output is cut after a few lines.
	fmt.Fprintf(os.Stderr, "%s (N=%d), raft's timers in ms:\n%s\n", b.Name(), b.N, strings.Join(lines, "\n"))
}
