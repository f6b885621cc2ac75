package db

import (
	"context"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/model"
)

// An air-gapped site's records never sync: retention deletes tickets by
// the age of their last change, with their records, and keeps what
// changed since and calls still in use.
func TestPruneAirGappedByLastChange(t *testing.T) {
	s, clk := openForwardTest(t)
	ctx := context.Background()
	closed := func(ch string) int64 {
		t.Helper()
		res, err := s.CreateCall(ctx, testCall(ch, 0))
		if err != nil {
			t.Fatal(err)
		}
		return res.Answer.TicketID
	}
	old := closed("old")
	changed := closed("changed")
	// Agent 7 on a break: the native call waits, in use however old.
	if _, err := s.SetRoutingStatus(ctx, 7, model.RoutingStatusChange{CallRoutingStatus: model.PresenceUnavailable}); err != nil {
		t.Fatal(err)
	}
	waiting := call(t, s, "waiting")
	clk.Advance(48 * time.Hour)
	followUp(t, s, KindCallCompleted, changed, true) // a change yesterday+1
	recent := closed("recent")
	clk.Advance(2 * time.Hour)

	tickets, records, err := s.PruneAirGapped(ctx, clk.Now().Add(-24*time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	// "old" with its callReceived, and agent 7's routingStatus record.
	if tickets != 1 || records != 2 {
		t.Fatalf("pruned %d tickets, %d records; want 1, 2", tickets, records)
	}
	if _, _, err := s.Ticket(old); !isNotFound(err) {
		t.Errorf("old ticket kept: %v", err)
	}
	if id, err := s.TicketByChannel("old"); err == nil {
		t.Errorf("channel index of the pruned ticket kept: %d", id)
	}
	for _, id := range []int64{changed, waiting, recent} {
		if _, _, err := s.Ticket(id); err != nil {
			t.Errorf("ticket %d pruned: %v", id, err)
		}
	}
	st, err := s.OutboxStatus()
	if err != nil {
		t.Fatal(err)
	}
	// changed: 2 records, waiting: 1, recent: 1.
	if st.Pending != 4 {
		t.Errorf("%d records left, want 4", st.Pending)
	}
	if n, err := s.TicketCount(); err != nil || n != 3 {
		t.Errorf("ticket count %d (%v), want 3", n, err)
	}
	if err := s.CheckCounts(); err != nil {
		t.Error(err)
	}
	// Nothing older left: a second run deletes nothing.
	if n, r, err := s.PruneAirGapped(ctx, clk.Now().Add(-24*time.Hour), 100); err != nil || n != 0 || r != 0 {
		t.Errorf("second run pruned %d, %d (%v)", n, r, err)
	}
}
