package sync

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/edgetest"
)

// arrival is one request the recorder accepted.
type arrival struct {
	kind     string
	channel  string
	ticketID int64 // the ticket the request names (follow-ups) or got (callReceived)
}

// recorder stands in for central enneo: it answers callReceived with a
// central ticket ID (the first one again for a known channelId, as central
// should), records every request it accepts, and can be down, refuse
// records or refuse the token on demand.
type recorder struct {
	addr     string
	refuse   atomic.Pointer[func(kind, channel string) int] // status instead of 200; 0 = accept
	tokenOK  atomic.Bool
	requests atomic.Int64

	mu       gosync.Mutex
	srv      *http.Server
	byChan   map[string]int64
	next     int64
	arrivals []arrival
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{addr: edgetest.FreeAddr(t), byChan: map[string]int64{}, next: 700000}
	r.tokenOK.Store(true)
	t.Cleanup(r.down)
	return r
}

func (r *recorder) url() string { return "http://" + r.addr + "/api/mind" }

// up starts answering on the recorder's port.
func (r *recorder) up(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger a moment after down
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 5 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// down closes the port: connections are refused, as when central is away.
func (r *recorder) down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

func (r *recorder) serve(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	if !r.tokenOK.Load() || req.Header.Get("Authorization") != "Bearer "+hubToken {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"success":false,"error":"token expired"}`))
		return
	}
	raw, _ := io.ReadAll(req.Body)
	var body struct {
		ChannelID string `json:"channelId"`
		TicketID  int64  `json:"ticketId"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"success":false,"error":"body: not JSON"}`))
		return
	}
	kind := req.URL.Path[strings.LastIndex(req.URL.Path, "/")+1:]
	if f := r.refuse.Load(); f != nil {
		if code := (*f)(kind, body.ChannelID); code != 0 {
			w.WriteHeader(code)
			_, _ = w.Write([]byte(`{"success":false,"error":"phone: not a number"}`))
			return
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	a := arrival{kind: kind, channel: body.ChannelID, ticketID: body.TicketID}
	if kind == "callReceived" {
		id, ok := r.byChan[body.ChannelID]
		if !ok {
			r.next++
			id = r.next
			r.byChan[body.ChannelID] = id
		}
		a.ticketID = id
		r.arrivals = append(r.arrivals, a)
		_ = json.NewEncoder(w).Encode(map[string]any{"success": true, "ticketId": id})
		return
	}
	r.arrivals = append(r.arrivals, a)
	_, _ = w.Write([]byte(`{"success":true}`))
}

func (r *recorder) got() []arrival {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]arrival(nil), r.arrivals...)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.arrivals)
}

// setRefuse makes the recorder answer f's status instead of accepting;
// nil accepts everything again.
func (r *recorder) setRefuse(f func(kind, channel string) int) {
	if f == nil {
		r.refuse.Store(nil)
		return
	}
	r.refuse.Store(&f)
}
