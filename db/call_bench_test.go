package db

import (
	"context"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/enneo-edge/enneo-edge/model"
)

func openBenchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "edge.db"), Options{SiteID: 3})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	b.Cleanup(func() {
		cancel()
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	})
	return s
}

func benchCall(i int64) NewCall {
	return NewCall{
		Call: model.Call{Routing: model.RoutingNative, Direction: model.DirectionIn, Status: model.StatusOpen,
			TriggerAIProcessing: true, Phone: "+49 171 1234567", SubchannelID: 2,
			ChannelID: "bench-" + strconv.FormatInt(i, 10),
			Transcript: []model.TranscriptEntry{
				{Speaker: "agent", Message: "Guten Tag, worum geht es?"},
				{Speaker: "customer", Message: "Meine Abschlagszahlung ist zu hoch."},
			}},
		CallerE164: "+491711234567",
	}
}

// reportCommits adds fsynced commits per call: group commit must keep it
// well below one when calls arrive concurrently.
func reportCommits(b *testing.B, s *Store, c0, w0 int64) {
	c, w := s.CommitStats()
	if w > w0 {
		b.ReportMetric(float64(c-c0)/float64(w-w0), "commits/call")
	}
}

// BenchmarkCreateCall is one caller at a time: every call pays a whole
// commit (two fdatasyncs), the latency floor of a durable answer.
func BenchmarkCreateCall(b *testing.B) {
	s := openBenchStore(b)
	ctx := context.Background()
	c0, w0 := s.CommitStats()
	b.ReportAllocs()
	var i int64
	for b.Loop() {
		i++
		if _, err := s.CreateCall(ctx, benchCall(i)); err != nil {
			b.Fatal(err)
		}
	}
	reportCommits(b, s, c0, w0)
}

// BenchmarkCreateCallParallel is many PBX channels at once: calls share
// commits, so ns/op falls far below one fsync.
func BenchmarkCreateCallParallel(b *testing.B) {
	s := openBenchStore(b)
	ctx := context.Background()
	c0, w0 := s.CommitStats()
	var n atomic.Int64
	b.SetParallelism(32)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.CreateCall(ctx, benchCall(n.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportCommits(b, s, c0, w0)
}
