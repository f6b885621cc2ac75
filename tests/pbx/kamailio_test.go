package pbx

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/edgetest"
)

// lookupTimeoutMS is the lookup's time limit in the shipped kamailio.cfg
// (http_client connection_timeout = 1 s: the least Kamailio 5.6 allows),
// and failOpenMarginMS what a fail-open call may take beyond it.
const (
	lookupTimeoutMS  = 1000
	failOpenMarginMS = 100
	callReceived     = "/api/mind/telephony/callReceived"
)

// TestKamailio runs sipp callers through Kamailio with the shipped config
// to sipp next hops, with two edges behind it: every call gets exactly one
// ticket keyed by its Call-ID even when its INVITE is retransmitted, the
// ticket reaches the next hop in X-Enneo-Ticket-Id, agentConnected and
// callCompleted follow from the 200 OK and the BYE; with the first edge
// stopped the tickets land on the second; with both stopped every call
// goes on to the fail-open hop.
func TestKamailio(t *testing.T) {
	needTools(t, "kamailio", "sipp")
	dir := t.TempDir()
	a := startEdge(t, filepath.Join(dir, "edge-a"), token)
	b := startEdge(t, filepath.Join(dir, "edge-b"), token)
	s := kamailioSettings{
		listenPort: freeUDPPort(t), primary: a.URL, secondary: b.URL, token: token,
		nextHopPort: freeUDPPort(t), failPort: freeUDPPort(t),
	}
	// The next hop only takes INVITEs with X-Enneo-Ticket-Id, the fail-open
	// hop only those with X-Enneo-Lookup: failed and without the ticket
	// header the callers forge: a call sent the wrong way gets a 403 and
	// fails at the caller.
	startUAS(t, filepath.Join(dir, "uas"), "uas.xml", s.nextHopPort)
	startUAS(t, filepath.Join(dir, "uas-failopen"), "uas-failopen.xml", s.failPort)
	startKamailio(t, filepath.Join(dir, "kamailio"), s)

	t.Run("500 calls at 50/s, each INVITE retransmitted", func(t *testing.T) {
		const calls = 500
		run := runUAC(t, filepath.Join(dir, "uac-1"), "uac-dup.xml", s.listenPort, calls, 50)
		run.mustSucceed(t, filepath.Join(dir, "uac-1"), calls)
		checkTickets(t, a, run.callIDs(calls), true)
		// One lookup per call: tm absorbed the retransmissions.
		if n := a.requests(t, callReceived, 200); n != calls {
			t.Errorf("edge A answered %d callReceived for %d calls (1000 INVITEs)", n, calls)
		}
		if got := b.tickets(t); len(got) != 0 {
			t.Errorf("edge B has %d tickets while edge A was up", len(got))
		}
	})

	t.Run("first edge stopped: the second takes the calls", func(t *testing.T) {
		a.Stop(t)
		const calls = 50
		run := runUAC(t, filepath.Join(dir, "uac-2"), "uac.xml", s.listenPort, calls, 50)
		run.mustSucceed(t, filepath.Join(dir, "uac-2"), calls)
		checkTickets(t, b, run.callIDs(calls), true)
	})

	t.Run("both edges stopped: 100 calls fail open", func(t *testing.T) {
		b.Stop(t)
		const calls = 100
		run := runUAC(t, filepath.Join(dir, "uac-3"), "uac.xml", s.listenPort, calls, 50)
		run.mustSucceed(t, filepath.Join(dir, "uac-3"), calls)
		checkFailOpenDelays(t, run, lookupTimeoutMS+failOpenMarginMS)
	})
}

// TestKamailioSilentEdge: an edge that accepts the connection and never
// answers costs each call the lookup timeout, not the caller's patience
// (http_client's default is no timeout at all), and a 401 from the second
// edge (a wrong token) fails open at once instead of rejecting the call.
func TestKamailioSilentEdge(t *testing.T) {
	needTools(t, "kamailio", "sipp")
	dir := t.TempDir()
	silent, accepted := silentListener(t)
	wrongToken := startEdge(t, filepath.Join(dir, "edge"), "another-token-0123456789")
	s := kamailioSettings{
		listenPort: freeUDPPort(t), primary: silent, secondary: wrongToken.URL, token: token,
		nextHopPort: freeUDPPort(t), failPort: freeUDPPort(t),
	}
	startUAS(t, filepath.Join(dir, "uas"), "uas.xml", s.nextHopPort)
	startUAS(t, filepath.Join(dir, "uas-failopen"), "uas-failopen.xml", s.failPort)
	startKamailio(t, filepath.Join(dir, "kamailio"), s)

	// 8 workers, each held 1 s per call: 2 calls/s stay well below
	// capacity. The bound has room for a loaded machine: what it guards is
	// that the lookup has a time limit at all, and that it is about 1 s
	// (http_client's default is none; the next step would be 2 s).
	const calls = 10
	run := runUAC(t, filepath.Join(dir, "uac"), "uac.xml", s.listenPort, calls, 2)
	run.mustSucceed(t, filepath.Join(dir, "uac"), calls)
	checkFailOpenDelays(t, run, lookupTimeoutMS+500)
	if n := accepted(); n != calls {
		t.Errorf("the silent edge saw %d connections for %d calls", n, calls)
	}
	if n := wrongToken.requests(t, callReceived, 401); n != calls {
		t.Errorf("the second edge refused %d lookups with 401, want %d", n, calls)
	}
}

// checkTickets asserts that e holds exactly one ticket per Call-ID, with
// channelId = Call-ID, and (answered) that each got agentConnected with the
// next hop's agent and callCompleted from the BYE.
func checkTickets(t *testing.T, e *edge, callIDs map[string]bool, answered bool) {
	t.Helper()
	var all []ticketView
	// callCompleted goes out after the BYE was relayed: it may trail the
	// caller's last message by a moment.
	edgetest.WaitFor(t, "callCompleted of every call", 10*time.Second, func() bool {
		all = e.tickets(t)
		for _, v := range all {
			if answered && !v.has("callCompleted") {
				return false
			}
		}
		return true
	})
	if len(all) != len(callIDs) {
		t.Fatalf("%d tickets for %d calls", len(all), len(callIDs))
	}
	seen := make(map[string]bool, len(all))
	for _, v := range all {
		ch := v.Ticket.ChannelID
		if !callIDs[ch] {
			t.Fatalf("ticket %d: channelId %q is none of the calls' Call-IDs", v.Ticket.ID, ch)
		}
		if seen[ch] {
			t.Fatalf("a second ticket (%d) for Call-ID %q", v.Ticket.ID, ch)
		}
		seen[ch] = true
		if answered && (v.Ticket.AgentID == nil || !v.has("agentConnected")) {
			t.Errorf("ticket %d (%s): no agentConnected from the 200 OK", v.Ticket.ID, ch)
		}
	}
}

// checkFailOpenDelays asserts that every call of run was answered within
// limitMS of its INVITE (sipp measures in whole ms).
func checkFailOpenDelays(t *testing.T, run uacRun, limitMS int) {
	t.Helper()
	worst := slices.Max(run.setupsMS)
	if worst > limitMS {
		t.Errorf("slowest fail-open call took %d ms, want ≤ %d ms (all: %v)", worst, limitMS, run.setupsMS)
	}
	t.Logf("fail-open INVITE→200: median %d ms, max %s ms", median(run.setupsMS), strconv.Itoa(worst))
}

func median(v []int) int {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestKamailioCancelDuringLookup: a caller who hangs up while the lookup
// still runs (the edge answers after 600 ms, the CANCEL comes at 200 ms)
// gets 487, and the ticket the lookup created is closed with callCompleted
// instead of being left open with no call behind it.
func TestKamailioCancelDuringLookup(t *testing.T) {
	needTools(t, "kamailio", "sipp")
	dir := t.TempDir()
	e := startEdge(t, filepath.Join(dir, "edge"), token)
	slow := slowProxy(t, e.URL, 600*time.Millisecond)
	s := kamailioSettings{
		listenPort: freeUDPPort(t), primary: slow, secondary: slow, token: token,
		nextHopPort: freeUDPPort(t), failPort: freeUDPPort(t),
	}
	startUAS(t, filepath.Join(dir, "uas"), "uas.xml", s.nextHopPort)
	startKamailio(t, filepath.Join(dir, "kamailio"), s)

	const calls = 5
	run := runUAC(t, filepath.Join(dir, "uac"), "uac-cancel.xml", s.listenPort, calls, 5)
	run.mustSucceed(t, filepath.Join(dir, "uac"), calls)
	var all []ticketView
	edgetest.WaitFor(t, "callCompleted on every ticket", 10*time.Second, func() bool {
		all = e.tickets(t)
		for _, v := range all {
			if !v.has("callCompleted") {
				return false
			}
		}
		return len(all) == calls
	})
	ids := run.callIDs(calls)
	for _, v := range all {
		if !ids[v.Ticket.ChannelID] {
			t.Errorf("ticket %d: channelId %q is none of the Call-IDs", v.Ticket.ID, v.Ticket.ChannelID)
		}
	}
}

// slowProxy forwards to target after holding each request for d: an edge
// that answers, late.
func slowProxy(t *testing.T, target string, d time.Duration) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(d)
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}
