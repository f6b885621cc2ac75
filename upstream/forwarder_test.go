package upstream

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/clock"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/model"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		status int
		want   outcome
	}{
		{200, delivered}, {201, delivered}, {204, delivered},
		{301, pause}, {307, pause},
		{400, refused}, {404, refused}, {409, refused}, {413, refused}, {422, refused},
		{401, pause}, {403, pause},
		{408, retry}, {425, retry}, {429, retry}, {500, retry}, {502, retry}, {503, retry}, {504, retry},
	}
	for _, tc := range tests {
		if got := classify(tc.status); got != tc.want {
			t.Errorf("classify(%d) = %s, want %s", tc.status, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	lo, hi := 100*time.Millisecond, 10*time.Second
	tests := []struct {
		n        int
		rnd      float64
		min, max time.Duration
	}{
		{0, 0, 50 * time.Millisecond, 50 * time.Millisecond},
		{0, 0.999, 50 * time.Millisecond, 100 * time.Millisecond},
		{3, 0, 400 * time.Millisecond, 400 * time.Millisecond},
		{3, 0.999, 400 * time.Millisecond, 800 * time.Millisecond},
		{20, 0.5, 5 * time.Second, hi},     // capped
		{200, 0.999, 5 * time.Second, hi},  // no overflow
		{-1, 0, 50 * time.Millisecond, lo}, // treated as the first retry
	}
	for _, tc := range tests {
		got := backoff(tc.n, lo, hi, func() float64 { return tc.rnd })
		if got < tc.min || got > tc.max {
			t.Errorf("backoff(%d, rnd %.3f) = %s, want within [%s, %s]", tc.n, tc.rnd, got, tc.min, tc.max)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 0 ", 0},
		{"-3", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tc := range tests {
		if got := retryAfter(tc.in, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestWithTicketID(t *testing.T) {
	tests := []struct {
		body, want, err string
	}{
		{`{"ticketId":1000900000000001,"channelId":"c"}`, `{"channelId":"c","ticketId":42}`, ""},
		{`{"channelId":"c"}`, `{"channelId":"c","ticketId":42}`, ""},
		{`{"ticketId":"1000900000000001"}`, `{"ticketId":42}`, ""},
		{`[1,2]`, "", "record body is not a JSON object"},
	}
	for _, tc := range tests {
		got, err := withTicketID([]byte(tc.body), 42)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("withTicketID(%s): error %v, want %q", tc.body, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("withTicketID(%s) = %s, %v; want %s", tc.body, got, err, tc.want)
		}
	}
}

// TestFollowUpsReachCentralInOrderWithCentralIDs appends follow-ups before
// anything is forwarded: each must wait for its callReceived and go out
// with the central ticket ID, never the local one.
func TestFollowUpsReachCentralInOrderWithCentralIDs(t *testing.T) {
	c := newCentral(t)
	s := newStore(t)
	ctx := context.Background()
	const tickets = 20
	local := map[int64]bool{}
	for i := range tickets {
		id := newCall(t, s, fmt.Sprintf("call-%d", i))
		local[id] = true
		for _, kind := range []string{db.KindAgentConnected, db.KindCallCompleted} {
			body := fmt.Sprintf(`{"ticketId":%d,"channelId":"call-%d","kind":%q}`, id, i, kind)
			if _, err := s.AppendOutbox(ctx, db.OutboxRecord{Kind: kind, TicketID: id, Body: []byte(body)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, err := s.AppendOutbox(ctx, db.OutboxRecord{Kind: db.KindRoutingStatus, UserID: 42,
		Body: []byte(`{"callRoutingStatus":"idle"}`)})
	if err != nil {
		t.Fatal(err)
	}
	startForwarder(t, s, nil, fastOptions(c.url()))
	waitFor(t, "the outbox to drain", func() bool { return pending(t, s).Pending == 0 })

	got := c.got()
	if len(got) != 3*tickets+1 {
		t.Fatalf("central got %d requests, want %d", len(got), 3*tickets+1)
	}
	// Per channel: callReceived, agentConnected, callCompleted, in that
	// order, the follow-ups naming central's ticket.
	seen := map[string][]string{}
	for _, r := range got {
		if r.Path == "/profile/42/routingStatus" {
			if r.Method != http.MethodPatch || r.Body["callRoutingStatus"] != "idle" {
				t.Fatalf("presence forwarded as %s %v", r.Method, r.Body)
			}
			continue
		}
		ch, _ := r.Body["channelId"].(string)
		kind := strings.TrimPrefix(r.Path, "/telephony/")
		seen[ch] = append(seen[ch], kind)
		if kind == db.KindCallReceived {
			continue
		}
		tid, _ := r.Body["ticketId"].(float64)
		if local[int64(tid)] {
			t.Fatalf("%s of %s carried the local ticket ID %d", kind, ch, int64(tid))
		}
		if want := c.centralID(ch); int64(tid) != want {
			t.Fatalf("%s of %s carried ticket %d, central's is %d", kind, ch, int64(tid), want)
		}
	}
	for ch, kinds := range seen {
		if fmt.Sprint(kinds) != "[callReceived agentConnected callCompleted]" {
			t.Fatalf("%s arrived as %v", ch, kinds)
		}
	}
	// The central ID is stored beside the local one.
	for id := range local {
		tk, _, err := s.Ticket(id)
		if err != nil {
			t.Fatal(err)
		}
		want := c.centralID(tk.ChannelID)
		if tk.CentralID != want || tk.Forwarding.State != model.ForwardSynced {
			t.Fatalf("ticket %d: central %d (want %d), forwarding %+v", id, tk.CentralID, want, tk.Forwarding)
		}
	}
}

func TestRefusedRecordsAreDeadLetteredOthersDelivered(t *testing.T) {
	c := newCentral(t)
	c.misbehave(func(b map[string]any) int {
		if ch, _ := b["channelId"].(string); strings.HasPrefix(ch, "bad") {
			return http.StatusUnprocessableEntity
		}
		return 0
	}, "")
	s := newStore(t)
	var bad []int64
	for i := range 10 {
		name := fmt.Sprintf("good-%d", i)
		if i%3 == 0 {
			name = fmt.Sprintf("bad-%d", i)
		}
		id := newCall(t, s, name)
		if i%3 == 0 {
			bad = append(bad, id)
			// A follow-up of a refused call cannot be sent: it is parked.
			_, err := s.AppendOutbox(context.Background(), db.OutboxRecord{Kind: db.KindCallCompleted, TicketID: id,
				Body: fmt.Appendf(nil, `{"ticketId":%d}`, id)})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	o := fastOptions(c.url())
	startForwarder(t, s, nil, o)
	waitFor(t, "the outbox to drain", func() bool { return pending(t, s).Pending == 0 })

	if n := len(c.got()); n != 6 {
		t.Fatalf("central accepted %d calls, want the 6 good ones", n)
	}
	dls, total, err := s.DeadLetters(100)
	if err != nil {
		t.Fatal(err)
	}
	if total != int64(2*len(bad)) {
		t.Fatalf("%d dead letters, want %d (each refused call and its parked follow-up)", total, 2*len(bad))
	}
	for _, d := range dls {
		switch {
		case d.Record.Kind == db.KindCallReceived:
			if d.Status != 422 || d.Attempts != o.MaxAttempts || !strings.Contains(d.Reason, "central answered 422") ||
				d.Response != `{"success":false,"error":"phone: invalid"}` {
				t.Fatalf("dead letter %+v", d)
			}
		case !d.Parked:
			t.Fatalf("follow-up of a refused call not parked: %+v", d)
		}
	}
	for _, id := range bad {
		tk, _, _ := s.Ticket(id)
		if tk.Forwarding.State != model.ForwardDead || tk.CentralID != 0 {
			t.Fatalf("refused ticket %d: %+v", id, tk.Forwarding)
		}
	}
	// Central is fixed; an operator retries everything; all goes through.
	c.misbehave(nil, "")
	if n, err := s.RetryAllDead(context.Background()); err != nil || n != 2*len(bad) {
		t.Fatalf("retry-all moved %d, %v", n, err)
	}
	waitFor(t, "the retried records", func() bool { return pending(t, s).Pending == 0 })
	if n := len(c.got()); n != 10+len(bad) {
		t.Fatalf("central accepted %d requests after the retry, want %d", n, 10+len(bad))
	}
	if st := pending(t, s); st.DeadLetters != 0 {
		t.Fatalf("dead letters left: %+v", st)
	}
}

// TestUnauthorizedPausesTheQueue: a 401 stops everything until the token
// works again, dead-letters nothing, and waits PausedRetry (on the
// injected clock) between probes.
func TestUnauthorizedPausesTheQueue(t *testing.T) {
	c := newCentral(t)
	c.tokenOK.Store(false)
	s := newStore(t)
	for i := range 5 {
		newCall(t, s, fmt.Sprintf("p-%d", i))
	}
	clk := clock.NewManual(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	o := fastOptions(c.url())
	o.PausedRetry = time.Hour
	f := startForwarder(t, s, clk, o)

	waitFor(t, "the pause", func() bool { st := f.Status(); return st.Paused && st.InFlight == 0 })
	// The dispatcher now sleeps until the next probe, an hour away.
	waitFor(t, "the probe timer", func() bool { return clk.Waiting(clk.Now().Add(time.Hour)) })
	// Up to one request per worker went out before the first 401 came
	// back; from then on, nothing but the probes.
	n0 := c.requests.Load()
	if n0 < 1 || n0 > int64(o.Workers) {
		t.Fatalf("%d requests before the pause, want 1..%d", n0, o.Workers)
	}
	st := pending(t, s)
	if st.Paused == nil || st.Paused.Status != 401 || !strings.Contains(st.Paused.Reason, "token expired") || st.DeadLetters != 0 || st.Pending != 5 {
		t.Fatalf("status while paused: %+v (paused %+v)", st, st.Paused)
	}
	fs := f.Status()
	if !fs.Paused || !strings.Contains(fs.PausedReason, "central answered 401") {
		t.Fatalf("forwarder status %+v", fs)
	}

	// Another hour, still refused: one more probe, still nothing dead.
	clk.Advance(time.Hour)
	waitFor(t, "the second probe", func() bool { return c.requests.Load() == n0+1 })
	waitFor(t, "the next probe timer", func() bool { return clk.Waiting(clk.Now().Add(time.Hour)) })

	if n := c.requests.Load(); n != n0+1 {
		t.Fatalf("%d requests after one probe period, want %d", n, n0+1)
	}
	c.tokenOK.Store(true)
	clk.Advance(time.Hour)
	waitFor(t, "the drain after the token works", func() bool { return pending(t, s).Pending == 0 })
	if n := len(c.got()); n != 5 {
		t.Fatalf("central got %d calls, want 5", n)
	}
	st = pending(t, s)
	if st.Paused != nil || st.DeadLetters != 0 || f.Status().Paused {
		t.Fatalf("after resume: %+v", st)
	}
}

// TestOutageProbesThenDrains: with central down, the forwarder sends one
// probe at a time instead of the backlog; when central is back, it all
// arrives, once.
func TestOutageProbesThenDrains(t *testing.T) {
	c := newCentral(t)
	c.down.Store(true)
	s := newStore(t)
	const calls = 200
	for i := range calls {
		newCall(t, s, fmt.Sprintf("o-%d", i))
	}
	o := fastOptions(c.url())
	o.BackoffMin, o.BackoffMax = 5*time.Millisecond, 5*time.Millisecond
	f := startForwarder(t, s, nil, o)
	waitFor(t, "the breaker", func() bool { return f.Status().FailuresInARow >= 10 })
	st, _ := s.Outbox(calls)
	if len(st) != calls {
		t.Fatalf("%d records pending during the outage, want %d", len(st), calls)
	}
	hits := c.requests.Load()
	c.down.Store(false)
	waitFor(t, "the drain", func() bool { return pending(t, s).Pending == 0 })
	got := c.got()
	chans := map[any]int{}
	for _, r := range got {
		chans[r.Body["channelId"]]++
	}
	if len(got) != calls || len(chans) != calls {
		t.Fatalf("central got %d requests for %d channels, want %d each once", len(got), len(chans), calls)
	}
	// One probe at a time while down: far fewer hits than records. The
	// breaker opens after 3 failures in a row (workers may have 4 in
	// flight when it does), so the hits are probes, not the backlog.
	if hits >= calls {
		t.Fatalf("central was hit %d times during the outage for %d records: the backlog was sent, not a probe", hits, calls)
	}
	t.Logf("%d requests during the outage (probes), then %d delivered", hits, len(got))
}

// TestCallWithoutChannelIDIsSentWithTheEdgesOne: the PBX gave no
// channelId, so the edge made one; central gets it and can recognise a
// re-send by it.
func TestCallWithoutChannelIDIsSentWithTheEdgesOne(t *testing.T) {
	c := newCentral(t)
	s := newStore(t)
	id := newCall(t, s, "")
	startForwarder(t, s, nil, fastOptions(c.url()))
	waitFor(t, "the delivery", func() bool { return pending(t, s).Pending == 0 })
	got := c.got()
	if want := fmt.Sprintf("edge-%d", id); len(got) != 1 || got[0].Body["channelId"] != want {
		t.Fatalf("central got %v, want one callReceived with channelId %s", got, want)
	}
}

// TestLateFollowUpOfDeadCallIsParked: a follow-up appended after its
// callReceived was dead-lettered cannot be sent (no central ID); it is
// parked beside it, and retrying the callReceived sends both, in order.
// A follow-up of a ticket the edge does not hold is dead-lettered.
func TestLateFollowUpOfDeadCallIsParked(t *testing.T) {
	c := newCentral(t)
	s := newStore(t)
	ctx := context.Background()
	id := newCall(t, s, "late")
	if err := s.DeadLetter(ctx, 1, db.DeadReason{Status: 422, Reason: "refused"}); err != nil {
		t.Fatal(err)
	}
	for _, tid := range []int64{id, 1000900099999999} {
		_, err := s.AppendOutbox(ctx, db.OutboxRecord{Kind: db.KindCallCompleted, TicketID: tid,
			Body: fmt.Appendf(nil, `{"ticketId":%d,"channelId":"late"}`, tid)})
		if err != nil {
			t.Fatal(err)
		}
	}
	startForwarder(t, s, nil, fastOptions(c.url()))
	waitFor(t, "the follow-ups to be set aside", func() bool { return pending(t, s).Pending == 0 })
	if n := c.requests.Load(); n != 0 {
		t.Fatalf("central got %d requests, want none", n)
	}
	dls, _, err := s.DeadLetters(10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range dls {
		got = append(got, fmt.Sprintf("%d parked=%v %s", d.Seq, d.Parked, d.Reason))
	}
	want := "[1 parked=false refused 2 parked=true waits for dead letter 1 of its ticket; retry that one 3 parked=false ticket 1000900099999999 is not stored at the edge]"
	if fmt.Sprint(got) != want {
		t.Fatalf("dead letters\n got %v\nwant %s", got, want)
	}
	if n, err := s.RetryDead(ctx, 1); err != nil || n != 2 {
		t.Fatalf("retry moved %d, %v; want the callReceived and its parked follow-up", n, err)
	}
	waitFor(t, "the retried records", func() bool { return pending(t, s).Pending == 0 })
	rs := c.got()
	if len(rs) != 2 || rs[0].Path != "/telephony/callReceived" || rs[1].Path != "/telephony/callCompleted" ||
		rs[1].Body["ticketId"] != float64(c.centralID("late")) {
		t.Fatalf("central got %+v", rs)
	}
}

// TestTooManyRequestsHonoursRetryAfter: a 429 with Retry-After holds the
// whole queue for that long (on the injected clock), then it drains.
func TestTooManyRequestsHonoursRetryAfter(t *testing.T) {
	c := newCentral(t)
	var limited atomic.Bool
	limited.Store(true)
	c.misbehave(func(map[string]any) int {
		if limited.Load() {
			return http.StatusTooManyRequests
		}
		return 0
	}, "3600")
	s := newStore(t)
	for i := range 3 {
		newCall(t, s, fmt.Sprintf("r-%d", i))
	}
	clk := clock.NewManual(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	o := fastOptions(c.url())
	o.Workers = 1
	f := startForwarder(t, s, clk, o)
	waitFor(t, "the hold", func() bool {
		st := f.Status()
		return st.RetryAt != nil && st.InFlight == 0 && clk.Waiting(clk.Now().Add(time.Hour))
	})
	if n := c.requests.Load(); n != 1 {
		t.Fatalf("%d requests before Retry-After ran out, want 1", n)
	}
	if at := f.Status().RetryAt; !at.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("next try at %s, want an hour after %s", at, clk.Now())
	}
	limited.Store(false)
	clk.Advance(time.Hour)
	waitFor(t, "the drain", func() bool { return pending(t, s).Pending == 0 })
	if n := len(c.got()); n != 3 {
		t.Fatalf("central accepted %d, want 3", n)
	}
}

// TestPausedQueueProbesOnlyEveryPausedRetryWhenCentralFails: while paused,
// a probe that fails for another reason (central in maintenance: 503) must
// not let the rest of the backlog out at once; the next probe waits
// PausedRetry like after a 401.
func TestPausedQueueProbesOnlyEveryPausedRetryWhenCentralFails(t *testing.T) {
	c := newCentral(t)
	c.tokenOK.Store(false)
	s := newStore(t)
	for i := range 5 {
		newCall(t, s, fmt.Sprintf("pm-%d", i))
	}
	clk := clock.NewManual(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	o := fastOptions(c.url())
	o.PausedRetry = time.Hour
	o.BackoffMin, o.BackoffMax = time.Hour, time.Hour
	f := startForwarder(t, s, clk, o)

	waitFor(t, "the pause", func() bool { st := f.Status(); return st.Paused && st.InFlight == 0 })
	waitFor(t, "the probe timer", func() bool { return clk.Waiting(clk.Now().Add(time.Hour)) })
	n0 := c.requests.Load()

	c.down.Store(true) // central now answers 503
	clk.Advance(time.Hour)
	waitFor(t, "the probe", func() bool { return c.requests.Load() >= n0+1 })
	waitFor(t, "the next probe timer", func() bool {
		return f.Status().InFlight == 0 && clk.Waiting(clk.Now().Add(time.Hour))
	})
	time.Sleep(100 * time.Millisecond)
	if n := c.requests.Load(); n != n0+1 {
		t.Fatalf("%d requests after one failed probe while paused, want %d (one probe per paused_retry)", n-n0, 1)
	}
}
