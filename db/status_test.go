package db

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/clock"
	"github.com/enneo-edge/enneo-edge/model"
)

// TestWaitingQueueExact: the status page's waiting count and oldest
// waiting call come from the indexes and follow calls as they wait, are
// routed and are declined; the declined count reads the newest entries.
func TestWaitingQueueExact(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	s := openRunning(t, filepath.Join(t.TempDir(), "edge.db"), clk)
	defer s.stop()
	ctx := context.Background()
	if _, err := s.SetRoutingStatus(ctx, 7, model.RoutingStatusChange{CallRoutingStatus: model.PresenceUnavailable}); err != nil {
		t.Fatal(err)
	}
	var first time.Time
	for i := range 5 {
		if i == 0 {
			first = clk.Now()
		}
		_, err := s.CreateCall(ctx, NewCall{Call: model.Call{Routing: model.RoutingNative, Direction: model.DirectionIn,
			Status: model.StatusOpen, ChannelID: fmt.Sprint("w", i), Phone: "+4930123456"}, CallerE164: "+4930123456"})
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
	}
	check := func(when string, waiting int, oldest time.Time, declined int) {
		t.Helper()
		st, err := s.WaitingQueue()
		if err != nil {
			t.Fatal(err)
		}
		if st.Waiting != waiting || st.Declined != declined || st.Partial ||
			(waiting > 0 && (st.OldestWaiting == nil || !st.OldestWaiting.Equal(oldest))) || (waiting == 0) != (st.OldestWaiting == nil) {
			t.Errorf("%s: %+v (oldest %v), want %d waiting since %v, %d declined", when, st, st.OldestWaiting, waiting, oldest, declined)
		}
	}
	check("five waiting", 5, first, 0)
	// The agent goes idle and gets the oldest call.
	if _, err := s.SetRoutingStatus(ctx, 7, model.RoutingStatusChange{CallRoutingStatus: model.PresenceIdle}); err != nil {
		t.Fatal(err)
	}
	check("one routed", 4, first.Add(time.Second), 0)
	// The rest wait past the maximum and are declined; the agent's ring
	// ran out too, so the first call is back, in its old place.
	clk.Advance(modelRouting.MaxWait)
	if _, err := s.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	check("declined after the maximum wait", 1, first, 4)
	if _, err := s.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	check("the returned call declined at the next tick", 0, time.Time{}, 5)
}
