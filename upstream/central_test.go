package upstream

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/enneo-edge/enneo-edge/clock"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/model"
)

const centralToken = "central-token-0123456789"

// received is one request central accepted.
type received struct {
	Method, Path string
	Body         map[string]any
}

// central is a real HTTP server standing in for central enneo: it answers
// callReceived with a ticket ID (the same one for a known channelId),
// records what it accepts and misbehaves on demand.
type central struct {
	srv      *httptest.Server
	tokenOK  atomic.Bool
	down     atomic.Bool // answer 503 to everything
	requests atomic.Int64

	mu sync.Mutex
	// refuse is the status to answer instead of 200 (0 = accept), sent
	// with retryAfter as Retry-After when that is set.
	refuse     func(body map[string]any) int
	retryAfter string
	byChan     map[string]int64
	next       int64
	accepted   []received
}

func newCentral(t testing.TB) *central {
	c := &central{byChan: map[string]int64{}, next: 5000}
	c.tokenOK.Store(true)
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *central) url() string { return c.srv.URL + "/api/mind" }

func (c *central) serve(w http.ResponseWriter, r *http.Request) {
	c.requests.Add(1)
	if c.down.Load() {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
		return
	}
	if !c.tokenOK.Load() || r.Header.Get("Authorization") != "Bearer "+centralToken {
		http.Error(w, `{"success":false,"error":"token expired"}`, http.StatusUnauthorized)
		return
	}
	raw, _ := io.ReadAll(r.Body)
	body := map[string]any{}
	if err := json.Unmarshal(raw, &body); err != nil {
		http.Error(w, `{"success":false,"error":"not json"}`, http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refuse != nil {
		if code := c.refuse(body); code != 0 {
			if c.retryAfter != "" {
				w.Header().Set("Retry-After", c.retryAfter)
			}
			w.WriteHeader(code)
			_, _ = w.Write([]byte(`{"success":false,"error":"phone: invalid"}`))
			return
		}
	}
	c.accepted = append(c.accepted, received{r.Method, strings.TrimPrefix(r.URL.Path, "/api/mind"), body})
	if strings.HasSuffix(r.URL.Path, "/callReceived") {
		ch, _ := body["channelId"].(string)
		id, ok := c.byChan[ch]
		if !ok {
			c.next++
			id = c.next
			c.byChan[ch] = id
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"success": true, "ticketId": id})
		return
	}
	_, _ = w.Write([]byte(`{"success":true}`))
}

// misbehave sets what central answers instead of accepting (see refuse).
func (c *central) misbehave(refuse func(body map[string]any) int, retryAfter string) {
	c.mu.Lock()
	c.refuse, c.retryAfter = refuse, retryAfter
	c.mu.Unlock()
}

// centralID is the ticket central gave channel ch, 0 if none.
func (c *central) centralID(ch string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byChan[ch]
}

func (c *central) got() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.accepted...)
}

func newStore(t testing.TB) *db.Store {
	t.Helper()
	s, err := db.Open(filepath.Join(t.TempDir(), "edge.db"), db.Options{SiteID: 9})
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
	return s
}

func fastOptions(url string) Options {
	return Options{URL: url, Token: centralToken, Workers: 4, Timeout: 2 * time.Second,
		BackoffMin: time.Millisecond, BackoffMax: 20 * time.Millisecond, PausedRetry: 20 * time.Millisecond,
		MaxAttempts: 3, Poll: 5 * time.Millisecond}
}

func startForwarder(t testing.TB, s *db.Store, clk clock.Clock, o Options) *Forwarder {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := New(s, nil, log, clk, o)
	ctx, cancel := context.WithCancel(context.Background())
	go f.Run(ctx)
	t.Cleanup(func() { cancel(); f.Close() })
	return f
}

func newCall(t testing.TB, s *db.Store, channel string) int64 {
	t.Helper()
	res, err := s.CreateCall(context.Background(), db.NewCall{Call: model.Call{
		Routing: model.RoutingNative, Direction: model.DirectionIn, Status: model.StatusOpen, ChannelID: channel}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Answer.TicketID
}

// waitFor polls cond until it holds or 10 s pass: the forwarder works in
// the background, and on a loaded machine it may take a while.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func pending(t *testing.T, s *db.Store) db.OutboxStatus {
	t.Helper()
	st, err := s.OutboxStatus()
	if err != nil {
		t.Fatal(err)
	}
	return st
}
