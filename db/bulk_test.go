package db

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/enneo-edge/enneo-edge/model"
)

// TestBulkSeeding: CreateCallsBulk stores each call as CreateCall would,
// skipping a channelId it already holds (in the store or earlier in the
// batch), and PutAgentsBulk brings agents online with their status; the
// calls that arrive then wait for them as they would after PutAgent and
// SetRoutingStatus.
func TestBulkSeeding(t *testing.T) {
	s, stop := startStore(t, filepath.Join(t.TempDir(), "edge.db"), Options{Routing: scaleRouting})
	defer stop()
	if err := s.PutAgentsBulk([]model.Agent{{ID: 1, SkillTagIDs: []int64{1}}, {ID: 2, SkillTagIDs: []int64{2}}}, model.PresenceUnavailable); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{1, 2} {
		if p, err := s.Presence(id); err != nil || p.CallRoutingStatus != model.PresenceUnavailable {
			t.Fatalf("agent %d after PutAgentsBulk: %+v, %v", id, p, err)
		}
	}
	if _, err := s.CreateCall(context.Background(), scaleCall(model.RoutingNative, "a", scalePhone(1))); err != nil {
		t.Fatal(err)
	}
	err := s.CreateCallsBulk([]NewCall{scaleCall(model.RoutingNative, "b", scalePhone(2)),
		scaleCall(model.RoutingNative, "a", scalePhone(3)), scaleCall(model.RoutingNative, "b", scalePhone(4)),
		scaleCall(model.RoutingExternal, "c", scalePhone(5))})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.TicketCount(); err != nil || n != 3 {
		t.Fatalf("%d tickets (%v), want 3: a repeated channelId was stored twice", n, err)
	}
	b, err := s.TicketByChannel("b")
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Routing(RoutingQuery{TicketID: b})
	if err != nil || a.Status != model.QueueWaitingForAgent || a.PositionDetails.Position != 1 {
		t.Fatalf("bulk call b: %+v, %v; want waiting at position 1", a, err)
	}
}
