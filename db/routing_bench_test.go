package db

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/model"
)

// BenchmarkRouting is one getRouting read with 200 waiting calls and 50
// logged-in agents (the closing-note scenario, without HTTP).
func BenchmarkRouting(b *testing.B) {
	clk := &testClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	s, err := Open(filepath.Join(b.TempDir(), "edge.db"), Options{SiteID: 3, Now: clk.Now, Routing: modelRouting})
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
	var tickets []int64
	for i := range 200 {
		res, err := s.CreateCall(ctx, NewCall{Call: model.Call{Routing: model.RoutingNative, Direction: model.DirectionIn,
			Status: model.StatusOpen, SubchannelID: int64(1 + i%2), ChannelID: fmt.Sprint("b", i),
			Transcript: []model.TranscriptEntry{{Speaker: "customer", Message: "Guten Tag, ich habe eine Frage zu meiner Rechnung"}}}})
		if err != nil {
			b.Fatal(err)
		}
		tickets = append(tickets, res.Answer.TicketID)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Routing(RoutingQuery{TicketID: tickets[i%len(tickets)]}); err != nil {
			b.Fatal(err)
		}
	}
}
