package retention

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/clock"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/model"
)

// TestPrunerDeletesOnlySyncedTicketsPastRetention runs more than one batch
// of synced tickets through the pruner on an injected clock.
func TestPrunerDeletesOnlySyncedTicketsPastRetention(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	s, err := db.Open(filepath.Join(t.TempDir(), "edge.db"), db.Options{SiteID: 2, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	defer func() { cancel(); _ = s.Close() }()

	const synced, unsynced = 25, 7
	var syncedIDs, keptIDs []int64
	for i := range synced + unsynced {
		res, err := s.CreateCall(ctx, db.NewCall{Call: model.Call{Routing: model.RoutingNative,
			Direction: model.DirectionIn, Status: model.StatusOpen, ChannelID: fmt.Sprint("ch-", i)}})
		if err != nil {
			t.Fatal(err)
		}
		if i < synced {
			if err := s.MarkDelivered(ctx, uint64(i+1), int64(i+1)); err != nil {
				t.Fatal(err)
			}
			syncedIDs = append(syncedIDs, res.Answer.TicketID)
		} else {
			keptIDs = append(keptIDs, res.Answer.TicketID)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := New(s, log, 30*24*time.Hour, 0, clk)
	p.batch = 10 // three batches, the last one short

	clk.Advance(29 * 24 * time.Hour)
	if n, err := p.Prune(ctx); err != nil || n != 0 {
		t.Fatalf("pruned %d (%v) within the retention", n, err)
	}
	clk.Advance(2 * 24 * time.Hour)
	if n, err := p.Prune(ctx); err != nil || n != synced {
		t.Fatalf("pruned %d (%v), want %d", n, err, synced)
	}
	for _, id := range syncedIDs[:3] {
		if _, _, err := s.Ticket(id); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("ticket %d still there: %v", id, err)
		}
	}
	for _, id := range keptIDs {
		if _, _, err := s.Ticket(id); err != nil {
			t.Fatalf("unsynced ticket %d pruned: %v", id, err)
		}
	}
	if n, _ := s.TicketCount(); n != unsynced {
		t.Fatalf("%d tickets left, want %d", n, unsynced)
	}
}

// TestAirGappedPrunerDeletesByAge: without upstream nothing syncs, so the
// air-gapped pruner deletes tickets past retention with their records, in
// batches.
func TestAirGappedPrunerDeletesByAge(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	s, err := db.Open(filepath.Join(t.TempDir(), "edge.db"), db.Options{SiteID: 2, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	defer func() { cancel(); _ = s.Close() }()
	for i := range 25 {
		if _, err := s.CreateCall(ctx, db.NewCall{Call: model.Call{Routing: model.RoutingNone,
			Direction: model.DirectionIn, Status: model.StatusClosed, ChannelID: fmt.Sprint("ch-", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(10 * 24 * time.Hour)
	if _, err := s.CreateCall(ctx, db.NewCall{Call: model.Call{Routing: model.RoutingNone,
		Direction: model.DirectionIn, Status: model.StatusClosed, ChannelID: "young"}}); err != nil {
		t.Fatal(err)
	}
	p := NewAirGapped(s, slog.New(slog.NewTextHandler(io.Discard, nil)), 7*24*time.Hour, 0, clk)
	p.batch = 10
	if n, err := p.Prune(ctx); err != nil || n != 25 {
		t.Fatalf("pruned %d (%v), want 25", n, err)
	}
	if n, _ := s.TicketCount(); n != 1 {
		t.Fatalf("%d tickets left, want 1", n)
	}
	if st, _ := s.OutboxStatus(); st.Pending != 1 {
		t.Fatalf("%d records left, want 1", st.Pending)
	}
}
