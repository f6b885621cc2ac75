package upstream

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lookupCentral creates a ticket for every callReceived it gets and then
// drops the connection (an ambiguous outcome), and answers getRouting as
// the test says: the branches of the lookup before a re-send.
type lookupCentral struct {
	posts   atomic.Int32
	mu      sync.Mutex
	drop    bool   // drop the connection after applying the first POST
	answer  string // callReceived answer body when not dropped
	lookup  func() (int, string)
	lookups atomic.Int32
}

func (c *lookupCentral) serve(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	drop, answer, lookup := c.drop, c.answer, c.lookup
	c.mu.Unlock()
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/telephony/getRouting") {
		c.lookups.Add(1)
		code, body := lookup()
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
		return
	}
	if c.posts.Add(1) == 1 && drop {
		if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
			_ = c.Close()
		}
		return
	}
	_, _ = w.Write([]byte(answer))
}

func (c *lookupCentral) set(fn func(c *lookupCentral)) {
	c.mu.Lock()
	fn(c)
	c.mu.Unlock()
}

func TestLookupBeforeResend(t *testing.T) {
	entry := func() (int, string) { return 200, `{"id":9,"ticketId":4242,"status":"unknown"}` }
	notFound := func() (int, string) { return 404, `{"success":false,"error":"queue entry not found"}` }
	proxy404 := func() (int, string) { return 404, `<html>no such route</html>` }
	wrapped := func() (int, string) { return 200, `{"success":true}` }
	tests := []struct {
		name      string
		lookup    func() (int, string)
		then      func() (int, string) // the lookup's answer after a while; nil: unchanged
		wantPosts int32
	}{
		{"central has it: not sent again", entry, nil, 1},
		{"central does not have it: sent again", notFound, nil, 2},
		{"a 404 that is not central's: nothing sent until central answers", proxy404, notFound, 2},
		{"an answer that is no queue entry: nothing sent on a guess", wrapped, entry, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &lookupCentral{drop: true, answer: `{"success":true,"ticketId":4242}`, lookup: tc.lookup}
			srv := httptest.NewServer(http.HandlerFunc(c.serve))
			t.Cleanup(srv.Close)
			s := newStore(t)
			newCall(t, s, "lk-1")
			o := fastOptions(srv.URL + "/api/mind")
			o.LookupDelay = 5 * time.Millisecond
			startForwarder(t, s, nil, o)
			waitFor(t, "a lookup", func() bool { return c.lookups.Load() >= 1 })
			if tc.then != nil {
				waitFor(t, "lookups going on", func() bool { return c.lookups.Load() >= 3 })
				if n := c.posts.Load(); n != 1 {
					t.Fatalf("sent %d times while the lookup told nothing", n)
				}
				c.set(func(c *lookupCentral) { c.lookup = tc.then })
			}
			waitFor(t, "delivery", func() bool { return pending(t, s).Pending == 0 })
			if n := c.posts.Load(); n != tc.wantPosts {
				t.Fatalf("central got the call %d times, want %d", n, tc.wantPosts)
			}
			id, err := s.TicketByChannel("lk-1")
			if err != nil {
				t.Fatal(err)
			}
			tk, _, err := s.Ticket(id)
			if err != nil || tk.CentralID != 4242 {
				t.Fatalf("central ID %d (%v), want 4242", tk.CentralID, err)
			}
		})
	}
}

// TestAcceptedWithoutTicketIDIsNotSentAgain: a 2xx means central committed
// the call; without a ticketId the edge cannot name it, and sending it
// again would make a second ticket. It is dead-lettered at once, and a
// retry of the dead letter looks it up first.
func TestAcceptedWithoutTicketIDIsNotSentAgain(t *testing.T) {
	c := &lookupCentral{answer: `{"success":true}`, lookup: func() (int, string) { return 200, `{"id":9,"ticketId":77,"status":"unknown"}` }}
	srv := httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(srv.Close)
	s := newStore(t)
	newCall(t, s, "nt-1")
	o := fastOptions(srv.URL + "/api/mind")
	o.LookupDelay = 5 * time.Millisecond
	startForwarder(t, s, nil, o)
	waitFor(t, "the dead letter", func() bool { return pending(t, s).DeadLetters == 1 })
	dead, _, err := s.DeadLetters(10)
	if err != nil || len(dead) != 1 || !strings.Contains(dead[0].Reason, "without a ticketId") || c.posts.Load() != 1 {
		t.Fatalf("dead letters %+v (%v), %d posts", dead, err, c.posts.Load())
	}
	if _, err := s.RetryDead(t.Context(), dead[0].Seq); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery after the retry", func() bool { return pending(t, s).Pending == 0 })
	if n := c.posts.Load(); n != 1 || c.lookups.Load() == 0 {
		t.Fatalf("after the retry central got it %d times with %d lookups, want once and a lookup", n, c.lookups.Load())
	}
}
