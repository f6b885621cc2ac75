package upstream

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkDrain measures the edge's side of draining a backlog: records
// per second into a central that answers at once from memory, so the
// numbers are the forwarder's and the store's cost (reads, commits,
// fsyncs), not central's. Compare workers within one run.
func BenchmarkDrain(b *testing.B) {
	for _, workers := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			c := newCentral(b)
			s := newStore(b)
			for i := range b.N {
				newCall(b, s, fmt.Sprintf("bench-%d", i))
			}
			o := fastOptions(c.url())
			o.Workers = workers
			c0, w0 := s.CommitStats()
			b.ResetTimer()
			start := time.Now()
			startForwarder(b, s, nil, o)
			for {
				st, err := s.OutboxStatus()
				if err != nil {
					b.Fatal(err)
				}
				if st.Pending == 0 {
					break
				}
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
			if c1, w1 := s.CommitStats(); c1 > c0 {
				b.ReportMetric(float64(w1-w0)/float64(c1-c0), "writes/commit")
			}
		})
	}
}
