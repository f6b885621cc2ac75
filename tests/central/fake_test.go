package central

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	gosync "sync"
	"testing"
	"time"
)

// fake is a central enneo of the test's own, behaving as the real one is
// documented to, not as a hub enneo-edge does: it routes native calls with
// its own ACD (and counts them), keeps a queue entry per call ticket that
// getRouting answers by channelId or ticketId, applies every request it
// gets (it deduplicates nothing: not by channelId, externalTicketId or
// Idempotency-Key), and serves the two pull endpoints. On demand it
// answers ambiguously after applying: too late for the edge's timeout, by
// dropping the connection, or with a 500; or it applies a request only
// after the edge's timeout ran out.
type fake struct {
	srv  *http.Server
	addr string

	mu        gosync.Mutex
	rnd       *rand.Rand
	ambiguous float64       // share of write requests answered ambiguously
	late      time.Duration // how late a late answer comes
	nextID    int64
	tickets   map[int64]*ticket
	byChannel map[string][]int64
	presence  map[int64]string
	routed    int // native calls central's ACD routed itself
	bad       []string
	tricks    map[string]int // ambiguous answers given, by kind
	agents    string         // routingAvailability answer
	lines     string         // settings/subchannel answer
	pulls     int
}

// ticket is central's ticket with its queue entry.
type ticket struct {
	id        int64
	channelID string
	body      map[string]any // the callReceived as received
	entry     string         // queue entry status
	assigned  int64
	completed bool
	applied   []string // kinds applied to the ticket, in order
}

func newFake(t *testing.T, ambiguous float64, late time.Duration) *fake {
	t.Helper()
	return newFakeAt(t, "127.0.0.1:0", ambiguous, late)
}

// newFakeAt starts the fake on addr (a port reserved earlier, for an edge
// that was configured before central came up).
func newFakeAt(t *testing.T, addr string, ambiguous float64, late time.Duration) *fake {
	t.Helper()
	f := &fake{rnd: rand.New(rand.NewPCG(1, 2)), ambiguous: ambiguous, late: late, nextID: 5000,
		tickets: map[int64]*ticket{}, byChannel: map[string][]int64{}, presence: map[int64]string{},
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

func (f *fake) url() string { return "http://" + f.addr + "/api/mind" }

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/api/mind")
	if r.Header.Get("Authorization") != "Bearer "+centralToken {
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
func (f *fake) apply(method, path string, b map[string]any) (answer string, code int, kind string) {
	switch {
	case method == http.MethodPost && path == "/telephony/callReceived":
		f.nextID++
		ch, _ := b["channelId"].(string)
		tk := &ticket{id: f.nextID, channelID: ch, body: b, applied: []string{"callReceived"}}
		human := num(b["agentId"])
		if human == 0 {
			human = num(b["userId"])
		}
		switch {
		case b["routing"] == "native":
			// Central's own ACD takes the call: exactly what must not
			// happen to a call the edge routed.
			f.routed++
			tk.entry = "assigned"
		case b["direction"] == "out" && human != 0 && num(b["aiAgentId"]) == 0:
			tk.entry, tk.assigned = "currentlyProcessed", human
			f.presence[human] = "interacting"
		case b["routing"] == "external" && human != 0:
			tk.entry, tk.assigned = "currentlyProcessed", human
			f.presence[human] = "interacting"
		case b["routing"] == "external":
			tk.entry = "waitingForAgent" // for a later agentConnected
		default:
			tk.entry = "unknown" // outside routing
		}
		f.tickets[tk.id] = tk
		f.byChannel[ch] = append(f.byChannel[ch], tk.id)
		return fmt.Sprintf(`{"success":true,"ticketId":%d,"contractId":null,"customerId":null,"ioResponse":"None","queueId":%d}`,
			tk.id, tk.id+1_000_000), http.StatusOK, "callReceived"
	case method == http.MethodPost && (path == "/telephony/agentConnected" || path == "/telephony/callCompleted"):
		kind = strings.TrimPrefix(path, "/telephony/")
		tk := f.tickets[num(b["ticketId"])]
		if tk == nil {
			f.bad = append(f.bad, fmt.Sprintf("%s for unknown ticket %v", kind, b["ticketId"]))
			return `{"success":false,"error":"ticket not found"}`, http.StatusNotFound, kind
		}
		if ch, ok := b["channelId"].(string); ok && ch != tk.channelID {
			f.bad = append(f.bad, fmt.Sprintf("%s names ticket %d of channel %s with channelId %s", kind, tk.id, tk.channelID, ch))
		}
		tk.applied = append(tk.applied, kind)
		if kind == "agentConnected" {
			u := num(b["userId"])
			tk.entry, tk.assigned = "currentlyProcessed", u
			f.presence[u] = "interacting"
		} else {
			tk.entry, tk.completed = "completed", true
			if tk.assigned != 0 && f.presence[tk.assigned] == "interacting" {
				f.presence[tk.assigned] = "acw"
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
func (f *fake) getRouting(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var tk *ticket
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
	if tk.completed {
		completed = `"2026-12-01 10:00:00"`
	}
	fmt.Fprintf(w, `{"id":%d,"ticketId":%d,"status":%q,"assignedUserId":%d,"completedAt":%s,"channel":"phone"}`,
		tk.id+1_000_000, tk.id, tk.entry, tk.assigned, completed)
}

// snapshot returns copies of what the checks read.
func (f *fake) snapshot() (byChannel map[string][]*ticket, presence map[int64]string, routed int, bad []string, tricks map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	byChannel = make(map[string][]*ticket, len(f.byChannel))
	for ch, ids := range f.byChannel {
		for _, id := range ids {
			c := *f.tickets[id]
			c.applied = append([]string(nil), c.applied...)
			byChannel[ch] = append(byChannel[ch], &c)
		}
	}
	presence = make(map[int64]string, len(f.presence))
	for k, v := range f.presence {
		presence[k] = v
	}
	tricks = make(map[string]int, len(f.tricks))
	for k, v := range f.tricks {
		tricks[k] = v
	}
	return byChannel, presence, f.routed, append([]string(nil), f.bad...), tricks
}

func num(v any) int64 {
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
