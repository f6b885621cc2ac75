package db

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/model"
)

// BenchmarkCreateCallTx is the CPU cost of one routing=native callReceived
// inside its transaction (no fsync: many calls share one transaction),
// with 50 agents logged in and none idle, so routing admits the call and
// finds nobody to offer it to: the common case under load.
func BenchmarkCreateCallTx(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "edge.db"), Options{SiteID: 3})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	defer func() { cancel(); _ = s.Close() }()
	for id := int64(1); id <= 50; id++ {
		if _, err := s.PutAgent(ctx, model.Agent{ID: id, SkillTagIDs: []int64{1 + id%2}}); err != nil {
			b.Fatal(err)
		}
		if _, err := s.SetRoutingStatus(ctx, id, model.RoutingStatusChange{CallRoutingStatus: model.PresenceUnavailable}); err != nil {
			b.Fatal(err)
		}
	}
	benchCreateCallTx(b, s)
}

func benchCreateCallTx(b *testing.B, s *Store) {
	b.ReportAllocs()
	i := 0
	err := s.eng.Bolt().Update(func(tx *bolt.Tx) error {
		for b.Loop() {
			i++
			_, err := s.flow.CreateCall(schemaTx{tx}, s.now(), NewCall{Call: model.Call{Routing: model.RoutingNative, Direction: model.DirectionIn,
				Status: model.StatusOpen, ChannelID: fmt.Sprint("b", i), Phone: "+4930123456",
				Transcript: []model.TranscriptEntry{{Speaker: "customer", Message: "Guten Tag"}}}, CallerE164: "+4930123456"})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
