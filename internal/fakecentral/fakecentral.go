// Package fakecentral is a central enneo of the tests' own, shared by the
// process tests that forward to central (tests/central, tests/cluster).
package fakecentral

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"testing"
	"time"
)

// Central is a central enneo of the test's own, behaving as the real one is
// documented to, not as a hub enneo-edge does: it routes native calls with
// its own ACD (and counts them), keeps a queue entry per call ticket that
// getRouting answers by channelId or ticketId, applies every request it
// gets (it deduplicates nothing: not by channelId, externalTicketId or
// Idempotency-Key), and serves the two pull endpoints. On demand it
// answers ambiguously after applying: too late for the edge's timeout, by
// dropping the connection, or with a 500; or it applies a request only
// after the edge's timeout ran out.
type Central struct {
	srv   *http.Server
	addr  string
	token string

	mu        gosync.Mutex
	rnd       *rand.Rand
	ambiguous float64       // share of write requests answered ambiguously
	late      time.Duration // how late a late answer comes
	nextID    int64
	tickets   map[int64]*Ticket
	byChannel map[string][]int64
	presence  map[int64]string
	routed    int // native calls central's ACD routed itself
	bad       []string
	tricks    map[string]int // ambiguous answers given, by kind
	agents    string         // routingAvailability answer
	lines     string         // settings/subchannel answer
	pulls     int
}

// Ticket is central's ticket with its queue entry.
type Ticket struct {
	ID        int64
	ChannelID string
	Body      map[string]any // the callReceived as received
	Entry     string         // queue entry status
	Assigned  int64
	Completed bool
	Applied   []string // kinds applied to the ticket, in order
}

// Options are what a test chooses of central's behaviour.
type Options struct {
	Token     string        // the bearer token central accepts (required)
	Addr      string        // where to listen; "" picks a free loopback port
	Ambiguous float64       // share of write requests answered ambiguously
	Late      time.Duration // how late a late (or slow) answer comes
}

// New starts central on opt.Addr (a port reserved earlier, for an edge
// that was configured before central came up) or a free port; it stops when
// the test ends.
func New(t testing.TB, opt Options) *Central {
	t.Helper()
	if opt.Token == "" {
		t.Fatal("fakecentral: Options.Token is required")
	}
	addr := opt.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	f := &Central{token: opt.Token, rnd: rand.New(rand.NewPCG(1, 2)), ambiguous: opt.Ambiguous, late: opt.Late, nextID: 5000,
		tickets: map[int64]*Ticket{}, byChannel: map[string][]int64{}, presence: map[int64]string{},
		tricks: map[string]int{}, agents: `[]`, lines: `[]`}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = f.srv.Serve(ln) }()
	t.Cleanup(func() { _ = f.srv.Close() })
	return f
}

// URL is the base URL an edge's upstream.url names.
func (f *Central) URL() string { return "http://" + f.addr + "/api/mind" }

// Close stops central: the edge's requests fail from now on.
func (f *Central) Close() { _ = f.srv.Close() }

// SetDirectory sets what the two pull endpoints answer: the agents
// (routingAvailability) and the phone lines (settings/subchannel).
func (f *Central) SetDirectory(agents, lines string) {
	f.mu.Lock()
	f.agents, f.lines = agents, lines
	f.mu.Unlock()
}

func (f *Central) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/api/mind")
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodGet && path == "/telephony/getRouting":
		f.getRouting(w, r)
		return
	case r.Method == http.MethodGet && path == "/telephony/routingAvailability":
		f.mu.Lock()
		f.pulls++
		body := f.agents
		f.mu.Unlock()
		_, _ = w.Write([]byte(body))
		return
	case r.Method == http.MethodGet && path == "/settings/subchannel":
		f.mu.Lock()
		body := f.lines
		f.mu.Unlock()
		_, _ = w.Write([]byte(body))
		return
	}
	var body map[string]any
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		http.Error(w, `{"error":"bad json"}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	trick := ""
	if f.rnd.Float64() < f.ambiguous {
		trick = [...]string{"late", "drop", "500", "slow"}[f.rnd.IntN(4)]
		f.tricks[trick]++
	}
	f.mu.Unlock()
	if trick == "slow" {
		// Commits only after the edge's timeout: the edge must wait before
		// it asks (upstream.lookup_delay), or it would not find it yet.
		time.Sleep(f.late)
	}
	f.mu.Lock()
	answer, code, _ := f.apply(r.Method, path, body)
	f.mu.Unlock()
	if code != http.StatusOK {
		trick = ""
	}
	switch trick {
	case "late":
		time.Sleep(f.late) // the edge has given up by now
	case "drop":
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
				return
			}
		}
	case "500":
		http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError)
		return
	}
	w.WriteHeader(code)
	_, _ = w.Write([]byte(answer))
}

// apply does what central does with a write; f.mu is held.
func (f *Central) apply(method, path string, b map[string]any) (answer string, code int, kind string) {
	switch {
	case method == http.MethodPost && path == "/telephony/callReceived":
		f.nextID++
		ch, _ := b["channelId"].(string)
		tk := &Ticket{ID: f.nextID, ChannelID: ch, Body: b, Applied: []string{"callReceived"}}
		human := Num(b["agentId"])
		if human == 0 {
			human = Num(b["userId"])
		}
		switch {
		case b["routing"] == "native":
			// Central's own ACD takes the call: exactly what must not
			// happen to a call the edge routed.
			f.routed++
			tk.Entry = "assigned"
		case b["direction"] == "out" && human != 0 && Num(b["aiAgentId"]) == 0:
			tk.Entry, tk.Assigned = "currentlyProcessed", human
			f.presence[human] = "interacting"
		case b["routing"] == "external" && human != 0:
			tk.Entry, tk.Assigned = "currentlyProcessed", human
			f.presence[human] = "interacting"
		case b["routing"] == "external":
			tk.Entry = "waitingForAgent" // for a later agentConnected
		default:
			tk.Entry = "unknown" // outside routing
		}
		f.tickets[tk.ID] = tk
		f.byChannel[ch] = append(f.byChannel[ch], tk.ID)
		return fmt.Sprintf(`{"success":true,"ticketId":%d,"contractId":null,"customerId":null,"ioResponse":"None","queueId":%d}`,
			tk.ID, tk.ID+1_000_000), http.StatusOK, "callReceived"
	case method == http.MethodPost && (path == "/telephony/agentConnected" || path == "/telephony/callCompleted"):
		kind = strings.TrimPrefix(path, "/telephony/")
		tk := f.tickets[Num(b["ticketId"])]
		if tk == nil {
			f.bad = append(f.bad, fmt.Sprintf("%s for unknown ticket %v", kind, b["ticketId"]))
			return `{"success":false,"error":"ticket not found"}`, http.StatusNotFound, kind
		}
		if ch, ok := b["channelId"].(string); ok && ch != tk.ChannelID {
			f.bad = append(f.bad, fmt.Sprintf("%s names ticket %d of channel %s with channelId %s", kind, tk.ID, tk.ChannelID, ch))
		}
		tk.Applied = append(tk.Applied, kind)
		if kind == "agentConnected" {
			u := Num(b["userId"])
			tk.Entry, tk.Assigned = "currentlyProcessed", u
			f.presence[u] = "interacting"
		} else {
			tk.Entry, tk.Completed = "completed", true
			if tk.Assigned != 0 && f.presence[tk.Assigned] == "interacting" {
				f.presence[tk.Assigned] = "acw"
			}
		}
		return `{"success":true}`, http.StatusOK, kind
	case method == http.MethodPatch && strings.HasPrefix(path, "/profile/") && strings.HasSuffix(path, "/routingStatus"):
		id, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(path, "/profile/"), "/routingStatus"), 10, 64)
		if err != nil {
			return `{"success":false}`, http.StatusBadRequest, "routingStatus"
		}
		if st, ok := b["callRoutingStatus"].(string); ok {
			f.presence[id] = st
		}
		return `{"success":true}`, http.StatusOK, "routingStatus"
	}
	return `{"success":false,"error":"no such route"}`, http.StatusNotFound, ""
}

// getRouting answers the queue entry of a ticket, by ticketId or (as the
// older API generation documents) by channelId.
func (f *Central) getRouting(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var tk *Ticket
	if ch := r.URL.Query().Get("channelId"); ch != "" {
		if ids := f.byChannel[ch]; len(ids) > 0 {
			tk = f.tickets[ids[0]]
		}
	} else if id, err := strconv.ParseInt(r.URL.Query().Get("ticketId"), 10, 64); err == nil {
		tk = f.tickets[id]
	}
	if tk == nil {
		http.Error(w, `{"success":false,"error":"queue entry not found"}`, http.StatusNotFound)
		return
	}
	completed := "null"
	if tk.Completed {
		completed = `"2026-12-01 10:00:00"`
	}
	fmt.Fprintf(w, `{"id":%d,"ticketId":%d,"status":%q,"assignedUserId":%d,"completedAt":%s,"channel":"phone"}`,
		tk.ID+1_000_000, tk.ID, tk.Entry, tk.Assigned, completed)
}

// Snapshot is a copy of central's picture at one moment.
type Snapshot struct {
	ByChannel map[string][]*Ticket // every ticket central created, by channelId
	Presence  map[int64]string     // each agent's callRoutingStatus
	Routed    int                  // native calls central's own ACD routed
	Bad       []string             // requests that named an unknown or wrong ticket
	Tricks    map[string]int       // ambiguous answers given, by kind
}

// Snapshot returns copies of what the checks read.
func (f *Central) Snapshot() Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := Snapshot{ByChannel: make(map[string][]*Ticket, len(f.byChannel)), Presence: maps.Clone(f.presence),
		Routed: f.routed, Bad: slices.Clone(f.bad), Tricks: maps.Clone(f.tricks)}
	for ch, ids := range f.byChannel {
		for _, id := range ids {
			c := *f.tickets[id]
			c.Applied = slices.Clone(c.Applied)
			s.ByChannel[ch] = append(s.ByChannel[ch], &c)
		}
	}
	return s
}

// Num reads an integer of a decoded JSON body (a json.Number or a string),
// 0 for anything else.
func Num(v any) int64 {
	switch n := v.(type) {
	case json.Number:
		i, _ := n.Int64()
		return i
	case string:
		i, _ := strconv.ParseInt(n, 10, 64)
		return i
	}
	return 0
}
