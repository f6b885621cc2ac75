package db

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/clock"
	"github.com/enneo-edge/enneo-edge/model"
)

func openForwardTest(t *testing.T) (*Store, *clock.Manual) {
	t.Helper()
	clk := clock.NewManual(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s, err := Open(filepath.Join(t.TempDir(), "edge.db"), Options{SiteID: 5, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	t.Cleanup(func() {
		cancel()
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s, clk
}

func call(t *testing.T, s *Store, channel string) int64 {
	t.Helper()
	res, err := s.CreateCall(context.Background(), NewCall{Call: model.Call{
		Routing: model.RoutingNative, Direction: model.DirectionIn, Status: model.StatusOpen, ChannelID: channel}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Answer.TicketID
}

func followUp(t *testing.T, s *Store, kind string, ticket int64, withField bool) uint64 {
	t.Helper()
	r := OutboxRecord{Kind: kind, Body: []byte(fmt.Sprintf(`{"ticketId":%d}`, ticket))}
	if withField {
		r.TicketID = ticket
	}
	seq, err := s.AppendOutbox(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func kinds(rs []Ready) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%d:%s", r.Record.Seq, r.Record.Kind))
	}
	return out
}

func TestNextOutboxKeepsOrderPerTicket(t *testing.T) {
	s, _ := openForwardTest(t)
	a := call(t, s, "a")                           // seq 1
	b := call(t, s, "b")                           // seq 2
	followUp(t, s, KindAgentConnected, a, false)   // seq 3, ticket only in body
	followUp(t, s, KindCallCompleted, b, true)     // seq 4
	_, err := s.AppendOutbox(context.Background(), // seq 5
		OutboxRecord{Kind: KindRoutingStatus, UserID: 42, Body: []byte(`{"callRoutingStatus":"idle"}`)})
	if err != nil {
		t.Fatal(err)
	}
	none := func(string) bool { return false }
	busyA := func(k string) bool { return k == string(orderKey(OutboxRecord{Kind: KindCallReceived, TicketID: a})) }
	tests := []struct {
		name string
		max  int
		scan int
		busy func(string) bool
		want string
	}{
		{"heads of every key", 10, 100, none, "[1:callReceived 2:callReceived 5:routingStatus]"},
		{"max bounds the answer", 2, 100, none, "[1:callReceived 2:callReceived]"},
		{"scan bounds the walk", 10, 1, none, "[1:callReceived]"},
		{"a busy key holds its later records back", 10, 100, busyA, "[2:callReceived 5:routingStatus]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.NextOutbox(tc.max, tc.scan, tc.busy)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(kinds(got)) != tc.want {
				t.Fatalf("got %v, want %s", kinds(got), tc.want)
			}
		})
	}

	// Delivering a's callReceived makes its follow-up the head, with the
	// central ID beside it.
	if err := s.MarkDelivered(context.Background(), 1, 777); err != nil {
		t.Fatal(err)
	}
	got, err := s.NextOutbox(10, 100, none)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(kinds(got)) != "[2:callReceived 3:agentConnected 5:routingStatus]" || got[1].CentralID != 777 {
		t.Fatalf("after delivery: %v (central %d)", kinds(got), got[1].CentralID)
	}
	st, err := s.OutboxStatus()
	if err != nil || st.Pending != 4 {
		t.Fatalf("pending %d, want 4 (%v)", st.Pending, err)
	}
}

func TestMarkDeliveredStoresCentralIDAndSyncs(t *testing.T) {
	s, _ := openForwardTest(t)
	ctx := context.Background()
	id := call(t, s, "x")
	fu := followUp(t, s, KindCallCompleted, id, true)
	if err := s.MarkDelivered(ctx, 1, 555); err != nil {
		t.Fatal(err)
	}
	tk, _, err := s.Ticket(id)
	if err != nil {
		t.Fatal(err)
	}
	if tk.CentralID != 555 || tk.Forwarding.CentralID != 555 || tk.Forwarding.State != model.ForwardPending {
		t.Fatalf("after callReceived: central %d, forwarding %+v; want 555 and pending (a follow-up waits)", tk.CentralID, tk.Forwarding)
	}
	if err := s.MarkDelivered(ctx, fu, 0); err != nil {
		t.Fatal(err)
	}
	// Delivering again is a no-op.
	if err := s.MarkDelivered(ctx, fu, 0); err != nil {
		t.Fatal(err)
	}
	tk, _, _ = s.Ticket(id)
	if tk.Forwarding.State != model.ForwardSynced || tk.Forwarding.SyncedAt == nil || tk.CentralID != 555 {
		t.Fatalf("after all records: %+v", tk.Forwarding)
	}
	st, _ := s.OutboxStatus()
	if st.Pending != 0 || st.OldestPendingAt != nil {
		t.Fatalf("status %+v, want empty", st)
	}
}

func TestDeadLetterParksFollowersAndRetryRestoresOrder(t *testing.T) {
	s, _ := openForwardTest(t)
	ctx := context.Background()
	a := call(t, s, "a")                        // 1
	b := call(t, s, "b")                        // 2
	followUp(t, s, KindAgentConnected, a, true) // 3
	followUp(t, s, KindAgentConnected, b, true) // 4
	if n, err := s.RecordFailure(ctx, 1, Failure{Status: 422, Msg: "422: bad"}); err != nil || n != 1 {
		t.Fatalf("attempts %d %v", n, err)
	}
	if n, _ := s.RecordFailure(ctx, 1, Failure{Status: 422, Msg: "422: bad"}); n != 2 {
		t.Fatalf("attempts %d, want 2", n)
	}
	err := s.DeadLetter(ctx, 1, DeadReason{Status: 422, Reason: "central refused it", Response: `{"error":"phone: invalid"}`})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.NextOutbox(10, 100, func(string) bool { return false })
	if fmt.Sprint(kinds(got)) != "[2:callReceived]" {
		t.Fatalf("outbox after dead letter: %v, want only b's callReceived (b's follow-up waits behind it)", kinds(got))
	}
	dls, total, err := s.DeadLetters(10)
	if err != nil || total != 2 || len(dls) != 2 {
		t.Fatalf("dead letters %d/%d %v", len(dls), total, err)
	}
	if d := dls[0]; d.Seq != 1 || d.Status != 422 || d.Attempts != 2 || d.Parked || d.Response != `{"error":"phone: invalid"}` {
		t.Fatalf("first dead letter %+v", d)
	}
	if d := dls[1]; d.Seq != 3 || !d.Parked {
		t.Fatalf("second dead letter %+v, want the parked follow-up 3", d)
	}
	tk, _, _ := s.Ticket(a)
	if tk.Forwarding.State != model.ForwardDead || tk.Forwarding.LastError == "" {
		t.Fatalf("ticket forwarding %+v", tk.Forwarding)
	}
	st, _ := s.OutboxStatus()
	if st.Pending != 2 || st.DeadLetters != 2 {
		t.Fatalf("status %+v", st)
	}

	if _, err := s.RetryDead(ctx, 99); !errors.Is(err, ErrNotFound) || err.Error() != "dead letter 99: not found" {
		t.Fatalf("retry of unknown: %v", err)
	}
	if n, err := s.RetryDead(ctx, 1); err != nil || n != 2 {
		t.Fatalf("retry moved %d, %v; want 2 (the record and its parked follower)", n, err)
	}
	got, _ = s.NextOutbox(10, 100, func(string) bool { return false })
	if fmt.Sprint(kinds(got)) != "[1:callReceived 2:callReceived]" || got[0].Tries.Attempts != 0 {
		t.Fatalf("outbox after retry: %v", kinds(got))
	}
	tk, _, _ = s.Ticket(a)
	if tk.Forwarding.State != model.ForwardPending {
		t.Fatalf("ticket after retry %+v", tk.Forwarding)
	}
	st, _ = s.OutboxStatus()
	if st.Pending != 4 || st.DeadLetters != 0 {
		t.Fatalf("status after retry %+v", st)
	}
}

func TestRetryAllDead(t *testing.T) {
	s, _ := openForwardTest(t)
	ctx := context.Background()
	for i := range 3 {
		call(t, s, fmt.Sprint("c", i))
	}
	for seq := uint64(1); seq <= 3; seq++ {
		if err := s.DeadLetter(ctx, seq, DeadReason{Status: 400, Reason: "bad"}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.RetryAllDead(ctx)
	if err != nil || n != 3 {
		t.Fatalf("retried %d %v", n, err)
	}
	st, _ := s.OutboxStatus()
	if st.Pending != 3 || st.DeadLetters != 0 {
		t.Fatalf("status %+v", st)
	}
}

func TestPauseStateIsStored(t *testing.T) {
	s, clk := openForwardTest(t)
	ctx := context.Background()
	p := &PauseState{Since: clk.Now(), Status: 401, Reason: "central answered 401"}
	if err := s.SetPaused(ctx, p); err != nil {
		t.Fatal(err)
	}
	st, _ := s.OutboxStatus()
	if st.Paused == nil || st.Paused.Status != 401 || st.Paused.Reason != p.Reason {
		t.Fatalf("paused %+v", st.Paused)
	}
	if err := s.SetPaused(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Paused(); got != nil {
		t.Fatalf("paused after clear: %+v", got)
	}
}

func TestPruneSyncedKeepsUnsynced(t *testing.T) {
	s, clk := openForwardTest(t)
	ctx := context.Background()
	synced := call(t, s, "synced")     // 1
	unsynced := call(t, s, "unsynced") // 2
	late := call(t, s, "late")         // 3
	dead := call(t, s, "dead")         // 4
	for seq, central := range map[uint64]int64{1: 11, 3: 13} {
		if err := s.MarkDelivered(ctx, seq, central); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeadLetter(ctx, 4, DeadReason{Status: 422, Reason: "no"}); err != nil {
		t.Fatal(err)
	}
	followUp(t, s, KindCallCompleted, late, true) // synced, then a follow-up came

	if n, err := s.PruneSynced(ctx, clk.Now().Add(-time.Hour), 100); err != nil || n != 0 {
		t.Fatalf("pruned %d (%v) before retention ran out", n, err)
	}
	clk.Advance(2 * time.Hour)
	n, err := s.PruneSynced(ctx, clk.Now().Add(-time.Hour), 100)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d %v, want 1", n, err)
	}
	if _, _, err := s.Ticket(synced); !errors.Is(err, ErrNotFound) {
		t.Fatalf("synced ticket still there: %v", err)
	}
	if _, err := s.TicketByChannel("synced"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("channel index entry still there: %v", err)
	}
	for _, id := range []int64{unsynced, late, dead} {
		if _, _, err := s.Ticket(id); err != nil {
			t.Fatalf("ticket %d pruned though not synced: %v", id, err)
		}
	}
}

// TestPruneSyncedKeepsLiveCalls: a ticket is synced as soon as its
// callReceived reached central, while the call may still wait in the
// queue or be talked on. Pruning it then would leave the routing indexes
// and presences pointing at a ticket that is gone, and every later
// dispatch, timer run or presence change touching them would fail.
func TestPruneSyncedKeepsLiveCalls(t *testing.T) {
	s, clk := openForwardTest(t)
	ctx := context.Background()
	// Agent 7 is logged in but on a break: the native call waits.
	if _, err := s.SetRoutingStatus(ctx, 7, model.RoutingStatusChange{CallRoutingStatus: model.PresenceUnavailable}); err != nil {
		t.Fatal(err)
	}
	waiting := call(t, s, "waiting") // outbox seq 2
	// Agent 8 takes an external call at once (interacting, no queue entry).
	res, err := s.CreateCall(ctx, NewCall{Call: model.Call{Routing: model.RoutingExternal, Direction: model.DirectionIn,
		Status: model.StatusOpen, ChannelID: "talking", UserID: 8}}) // outbox seq 3
	if err != nil {
		t.Fatal(err)
	}
	talking := res.Answer.TicketID
	for seq, central := range map[uint64]int64{2: 12, 3: 13} {
		if err := s.MarkDelivered(ctx, seq, central); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(2 * time.Hour)
	if n, err := s.PruneSynced(ctx, clk.Now().Add(-time.Hour), 100); err != nil || n != 0 {
		t.Fatalf("pruned %d (%v) live calls, want 0", n, err)
	}
	for _, id := range []int64{waiting, talking} {
		if _, _, err := s.Ticket(id); err != nil {
			t.Fatalf("live ticket %d pruned: %v", id, err)
		}
	}
	// Routing goes on: agent 7 comes back and is offered the waiting call;
	// agent 8 may still change status mid-call.
	if _, err := s.SetRoutingStatus(ctx, 7, model.RoutingStatusChange{CallRoutingStatus: model.PresenceIdle}); err != nil {
		t.Fatalf("agent 7 idle: %v", err)
	}
	if p, _ := s.Presence(7); p.CallRoutingStatus != model.PresenceBeingConnected || p.CurrentTicketID != waiting {
		t.Fatalf("agent 7 not offered the waiting call: %+v", p)
	}
	if _, err := s.SetRoutingStatus(ctx, 8, model.RoutingStatusChange{CallRoutingStatus: model.PresenceUnavailable}); err != nil {
		t.Fatalf("agent 8 mid-call status: %v", err)
	}
	// Once the calls are over and their follow-ups delivered, they go.
	for _, ch := range []string{"waiting", "talking"} {
		if _, err := s.CallCompleted(ctx, model.CallCompleted{ChannelID: ch}); err != nil {
			t.Fatal(err)
		}
	}
	pending, err := s.Outbox(100)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range pending {
		if r.Kind != KindCallCompleted {
			continue // presence records are no ticket's
		}
		if err := s.MarkDelivered(ctx, r.Seq, 0); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(2 * time.Hour)
	// Agent 7 was ringing (back to idle); agent 8 is in after-call work
	// until the timer frees them.
	if _, err := s.ExpireDue(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneSynced(ctx, clk.Now().Add(-time.Hour), 100); err != nil || n != 2 {
		t.Fatalf("pruned %d (%v) finished calls, want 2", n, err)
	}
}

// TestDeadFollowUpHoldsBackTheTicket: a ticket's later records wait behind
// any dead letter of that ticket, not only behind a dead callReceived, and
// retrying the dead letter sends them again in their order.
func TestDeadFollowUpHoldsBackTheTicket(t *testing.T) {
	s, _ := openForwardTest(t)
	ctx := context.Background()
	a := call(t, s, "a") // seq 1
	if err := s.MarkDelivered(ctx, 1, 700); err != nil {
		t.Fatal(err)
	}
	ac := followUp(t, s, KindAgentConnected, a, true) // seq 2
	cc := followUp(t, s, KindCallCompleted, a, true)  // seq 3
	if err := s.DeadLetter(ctx, ac, DeadReason{Status: 409, Reason: "central answered 409"}); err != nil {
		t.Fatal(err)
	}
	dead, _, err := s.DeadLetters(10)
	if err != nil || len(dead) != 2 || dead[1].Seq != cc || !dead[1].Parked {
		t.Fatalf("callCompleted not parked behind the dead agentConnected: %+v %v", dead, err)
	}
	// A follow-up that arrives later is held back too.
	late := followUp(t, s, KindCallCompleted, a, true)
	got, err := s.NextOutbox(10, 100, func(string) bool { return false })
	if err != nil || len(got) != 1 || got[0].Record.Seq != late || got[0].BlockedBy != ac {
		t.Fatalf("late follow-up: %+v %v", got, err)
	}
	if n, err := s.RetryDead(ctx, ac); err != nil || n != 2 {
		t.Fatalf("retry: %d %v", n, err)
	}
	got, err = s.NextOutbox(10, 100, func(string) bool { return false })
	if err != nil || len(got) != 1 || got[0].Record.Seq != ac || got[0].BlockedBy != 0 {
		t.Fatalf("after retry the agentConnected goes first, unblocked: %+v %v", got, err)
	}
}

// TestAgentKeyOrdersPresenceWithFollowUps: a presence change of an agent
// waits for that agent's earlier call follow-up, though they belong to
// different keys otherwise.
func TestAgentKeyOrdersPresenceWithFollowUps(t *testing.T) {
	s, _ := openForwardTest(t)
	ctx := context.Background()
	a := call(t, s, "a") // seq 1
	if err := s.MarkDelivered(ctx, 1, 700); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendOutbox(ctx, OutboxRecord{Kind: KindCallCompleted, TicketID: a, UserID: 42, Body: []byte(`{"channelId":"a"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendOutbox(ctx, OutboxRecord{Kind: KindRoutingStatus, UserID: 42, Body: []byte(`{"callRoutingStatus":"unavailable"}`)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.NextOutbox(10, 100, func(string) bool { return false })
	if err != nil || fmt.Sprint(kinds(got)) != "[2:callCompleted]" {
		t.Fatalf("presence overtook the agent's callCompleted: %v %v", kinds(got), err)
	}
	busyTicket := func(k string) bool { return k == string(ticketKey(a)) }
	got, err = s.NextOutbox(10, 100, busyTicket)
	if err != nil || len(got) != 0 {
		t.Fatalf("presence sent while the agent's callCompleted is in flight: %v %v", kinds(got), err)
	}
}

// TestRetriedDeadLettersKeepWhatCentralMayHave: a retried dead letter that
// may be at central is looked up first; a retried presence record carries
// the agent's presence now; a retried follow-up of an agent is followed by
// the agent's presence now, so central ends where the edge is.
func TestRetriedDeadLettersKeepWhatCentralMayHave(t *testing.T) {
	s, _ := openForwardTest(t)
	ctx := context.Background()
	a := call(t, s, "a") // seq 1
	if err := s.MarkDelivered(ctx, 1, 700); err != nil {
		t.Fatal(err)
	}
	ac, err := s.AppendOutbox(ctx, OutboxRecord{Kind: KindAgentConnected, TicketID: a, UserID: 42, Body: []byte(`{"userId":42,"channelId":"a"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordFailure(ctx, ac, Failure{Status: 503, Msg: "central answered 503", Ambiguous: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeadLetter(ctx, ac, DeadReason{Reason: "dead-lettered by an operator"}); err != nil {
		t.Fatal(err)
	}
	// The agent's presence moves on while the follow-up is dead.
	if _, err := s.SetRoutingStatus(ctx, 42, model.RoutingStatusChange{CallRoutingStatus: model.PresenceUnavailable}); err != nil {
		t.Fatal(err)
	}
	pending, _ := s.Outbox(100)
	for _, r := range pending {
		if r.Kind == KindRoutingStatus {
			if err := s.DeadLetter(ctx, r.Seq, DeadReason{Status: 409, Reason: "central answered 409"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := s.SetRoutingStatus(ctx, 42, model.RoutingStatusChange{CallRoutingStatus: model.PresenceOffline}); err != nil {
		t.Fatal(err)
	}
	if err := drainPresence(ctx, s); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RetryAllDead(ctx); err != nil || n != 2 {
		t.Fatalf("retry all: %d %v", n, err)
	}
	recs, err := s.Outbox(100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%s %s", r.Kind, r.Body))
	}
	want := []string{
		`agentConnected {"userId":42,"channelId":"a"}`,
		`routingStatus {"callRoutingStatus":"offline"}`, // the dead unavailable, as the agent is now
		`routingStatus {"callRoutingStatus":"offline"}`, // after the retried follow-up
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("outbox after retry\n got %q\nwant %q", got, want)
	}
	next, err := s.NextOutbox(10, 100, func(string) bool { return false })
	if err != nil || len(next) != 1 || next[0].Record.Seq != ac || !next[0].Tries.Ambiguous || next[0].Tries.Attempts != 0 {
		t.Fatalf("the retried agentConnected must be looked up first, with fresh attempts: %+v %v", next, err)
	}
}

// drainPresence marks every pending presence record delivered.
func drainPresence(ctx context.Context, s *Store) error {
	recs, err := s.Outbox(100)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.Kind == KindRoutingStatus {
			if err := s.MarkDelivered(ctx, r.Seq, 0); err != nil {
				return err
			}
		}
	}
	return nil
}
