package db

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/enneo-edge/enneo-edge/db/engine"
)

// A re-send of a call this process stored is answered from committed state
// without the group commit (here: with the commit loop stopped), and one it
// never saw still gets the first call's answer from the commit's own check.
func TestRepeatedChannelID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	first, stop := startStore(t, path, Options{})
	ctx := context.Background()
	old, err := first.CreateCall(ctx, benchCall(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(path, Options{SiteID: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	runCtx, cancel := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { s.Run(runCtx); close(ran) }()
	// Not seen by this process: answered by the transaction, storing nothing.
	again, err := s.CreateCall(ctx, benchCall(1))
	if err != nil || again.Answer.TicketID != old.Answer.TicketID {
		t.Fatalf("re-send after a restart: ticket %d (%v), want %d", again.Answer.TicketID, err, old.Answer.TicketID)
	}
	recent, err := s.CreateCall(ctx, benchCall(2))
	if err != nil {
		t.Fatal(err)
	}
	if n := walked(t, s, bucketTickets); n != 2 {
		t.Fatalf("%d tickets, want 2", n)
	}
	cancel()
	<-ran
	if _, err := s.CreateCall(ctx, benchCall(3)); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("new call with the commit loop stopped: %v, want ErrClosed", err)
	}
	for _, id := range []int64{1, 2} {
		res, err := s.CreateCall(ctx, benchCall(id))
		want := map[int64]int64{1: old.Answer.TicketID, 2: recent.Answer.TicketID}[id]
		if err != nil || res.Answer.TicketID != want {
			t.Fatalf("re-send of bench-%d with the commit loop stopped: ticket %d (%v), want %d", id, res.Answer.TicketID, err, want)
		}
	}
}

// The hint remembers what one generation held and, after three more, the
// last half generation: a shard keeps at least its share of one (about
// 1,024 hashes), and a shard getting twice its share of the last 8,192 is
// 20 standard deviations away. What came before three more is forgotten.
func TestRecentChannelsGenerations(t *testing.T) {
	r := newRecentChannels()
	name := func(i int) string { return "c-" + strconv.Itoa(i) }
	for i := range recentGeneration {
		r.add(name(i))
	}
	for i := range recentGeneration {
		if !r.mayHave(name(i)) {
			t.Fatalf("%s forgotten within one generation", name(i))
		}
	}
	for i := recentGeneration; i < 4*recentGeneration; i++ {
		r.add(name(i))
	}
	for i := range recentGeneration {
		if r.mayHave(name(i)) {
			t.Fatalf("%s still remembered after three more generations", name(i))
		}
	}
	for i := 4*recentGeneration - recentGeneration/2; i < 4*recentGeneration; i++ {
		if !r.mayHave(name(i)) {
			t.Fatalf("%s of the last half generation forgotten", name(i))
		}
	}
	if r.mayHave("never") {
		t.Fatal("a channelId never added is remembered")
	}
}
