package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Call kinds the PBX side drives, each with the follow-ups a PBX sends for
// it and what central must end up having applied.
const (
	kindNativeRouted = iota
	kindNativeDeclined
	kindNone
	kindExternal
	kindOutboundHuman
	kindOutboundBot
	numKinds
	kindProbe // the failover measurement's calls: callReceived only
)

var wantApplied = map[int][]string{
	kindNativeRouted:   {"callReceived", "agentConnected", "callCompleted"},
	kindNativeDeclined: {"callReceived", "callCompleted"},
	kindNone:           {"callReceived", "callCompleted"},
	kindExternal:       {"callReceived", "agentConnected", "callCompleted"},
	kindOutboundHuman:  {"callReceived", "callCompleted"},
	kindOutboundBot:    {"callReceived", "callCompleted"},
	kindProbe:          {"callReceived"},
}

const (
	routedAgents = 20  // agents 1..20 with skill 1, routed by the edge
	pbxWorkers   = 8   // each owns agent 100+w for its external and outbound calls
	customers    = 10  // customers 9001.. with phones +49301110000..
	ownAgentBase = 100 // agents of the workers
)

// routingConfig gives the cluster a line that needs skill 1 (the routed
// agents have it) and one whose skill nobody has (declined at once).
const routingConfig = `[routing]
acw = "1s"
ring_timeout = "5s"
timer_interval = "100ms"
subchannel_tags = { "1" = 1, "9" = 999 }
`

// acked is what the PBX side was told: the ticket of each acknowledged
// channelId and the call's kind.
type acked struct {
	mu      sync.Mutex
	tickets map[string]int64
	kinds   map[string]int
}

func newAcked() *acked { return &acked{tickets: map[string]int64{}, kinds: map[string]int{}} }

// add records an acknowledged call; a second, different ticket for the same
// channelId is an error at once.
func (a *acked) add(t *testing.T, ch string, kind int, ticket int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if prev, ok := a.tickets[ch]; ok && prev != ticket {
		t.Errorf("channel %s acknowledged with ticket %d and then %d", ch, prev, ticket)
	}
	a.tickets[ch], a.kinds[ch] = ticket, kind
}

// setupAgents logs the routed agents in with skill 1 and stores the
// workers' own agents (no skill: never routed) and the customers.
func setupAgents(t *testing.T, p pbx) {
	t.Helper()
	for id := 1; id <= routedAgents; id++ {
		p.must("PUT", fmt.Sprintf("/edge/v1/agents/%d", id), fmt.Sprintf(`{"name":"Agent %d","skillTagIds":[1]}`, id))
		p.must("PATCH", fmt.Sprintf("/api/mind/profile/%d/routingStatus", id), `{"callRoutingStatus":"idle"}`)
	}
	for w := 1; w <= pbxWorkers; w++ {
		p.must("PUT", fmt.Sprintf("/edge/v1/agents/%d", ownAgentBase+w), fmt.Sprintf(`{"name":"Own %d"}`, w))
	}
	var lines []string
	for i := range customers {
		lines = append(lines, fmt.Sprintf(`{"id":"%d","contractIds":["k%d"],"phone":"+49301110000%d","lastname":"C%d"}`, 9001+i, i, i, i))
	}
	p.must("PUT", "/edge/v1/customers", strings.Join(lines, "\n"))
}

// worker is one PBX client of the load: it sends each call's requests in
// order through its pbx (round-robin over the nodes, failing over).
type worker struct {
	pbx
	own   int64 // the worker's own agent (external and outbound calls)
	acked *acked
}

// call sends call i (kind i % numKinds) with its follow-ups: callReceived,
// for a native call getRouting until an agent is offered it, then
// agentConnected, and callCompleted; every fifth call first moves the
// worker's own agent (a presence PATCH).
func (w worker) call(i int) {
	kind := i % numKinds
	ch := fmt.Sprintf("c-%d", i)
	if i%5 == 0 {
		status := [...]string{"unavailable", "idle"}[(i/5)%2]
		w.must("PATCH", fmt.Sprintf("/api/mind/profile/%d/routingStatus", w.own), fmt.Sprintf(`{"callRoutingStatus":%q}`, status))
	}
	phone := fmt.Sprintf("+4940%07d", i)
	if i%(numKinds*2) == kindNone {
		phone = fmt.Sprintf("+49301110000%d", (i/(numKinds*2))%customers)
	}
	var body string
	switch kind {
	case kindNativeRouted:
		body = fmt.Sprintf(`{"routing":"native","subchannelId":1,"channelId":%q,"phone":%q}`, ch, phone)
	case kindNativeDeclined:
		body = fmt.Sprintf(`{"routing":"native","subchannelId":9,"channelId":%q,"phone":%q}`, ch, phone)
	case kindNone:
		body = fmt.Sprintf(`{"routing":"none","channelId":%q,"phone":%q,"transcript":[{"speaker":"bot","message":"hi"}]}`, ch, phone)
	case kindExternal:
		body = fmt.Sprintf(`{"routing":"external","channelId":%q,"phone":%q}`, ch, phone)
	case kindOutboundHuman:
		body = fmt.Sprintf(`{"routing":"none","direction":"out","channelId":%q,"to":%q,"agentId":%d}`, ch, phone, w.own)
	case kindOutboundBot:
		body = fmt.Sprintf(`{"routing":"none","direction":"out","channelId":%q,"to":%q,"aiAgentId":77}`, ch, phone)
	}
	a := w.must("POST", "/api/mind/telephony/callReceived", body)
	ticket := num(a.body["ticketId"])
	if ticket == 0 {
		w.t.Errorf("callReceived %s: no ticketId in %s", ch, a.raw)
		return
	}
	w.acked.add(w.t, ch, kind, ticket)
	switch kind {
	case kindNativeRouted:
		agent := w.waitRouted(ticket)
		w.must("POST", "/api/mind/telephony/agentConnected", fmt.Sprintf(`{"userId":%d,"ticketId":%d}`, agent, ticket))
	case kindExternal:
		w.must("POST", "/api/mind/telephony/agentConnected", fmt.Sprintf(`{"userId":%d,"channelId":%q}`, w.own, ch))
	}
	w.must("POST", "/api/mind/telephony/callCompleted",
		fmt.Sprintf(`{"channelId":%q,"transcript":[{"speaker":"customer","message":"bye %d"}],"totalDurationSeconds":30}`, ch, i))
}

// waitRouted polls getRouting, as a PBX does for a native call, until the
// cluster offers the call to an agent. Each poll may reach another node:
// the first, on a node other than the one that took callReceived, must
// already know the ticket (linearizable reads).
func (w worker) waitRouted(ticket int64) int64 {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		a := w.must("GET", fmt.Sprintf("/api/mind/telephony/getRouting?ticketId=%d", ticket), "")
		if a.body["status"] == "assigned" {
			return num(a.body["assignedUserId"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.t.Errorf("ticket %d not routed within 60 s", ticket)
	return 0
}

// runLoad sends calls from..to-1 from pbxWorkers workers, each a PBX that
// knows the URLs of nodes, and returns when all are done; progress counts
// finished calls for the test's kill schedule.
func runLoad(t *testing.T, c *cluster, nodes []*node, from, to int, ack *acked, progress *atomic.Int64) {
	next := make(chan int)
	var (
		wg sync.WaitGroup
		rr atomic.Int64
	)
	for w := range pbxWorkers {
		wg.Go(func() {
			wk := worker{pbx: c.pbxOn(t, &rr, nodes...), own: int64(ownAgentBase + w + 1), acked: ack}
			for i := range next {
				wk.call(i)
				progress.Add(1)
			}
		})
	}
	for i := from; i < to; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// settle waits until no agent is in a timed state (after-call work or
// ringing) and central has everything: then nothing changes any more.
func settle(t *testing.T, c *cluster, p pbx) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var v agentsView
		p.get("/edge/v1/agents", &v)
		busy := ""
		for _, a := range v.Agents {
			if a.Presence.Call == "acw" || a.Presence.Call == "beingConnected" {
				busy = fmt.Sprintf("agent %d is %s", a.ID, a.Presence.Call)
			}
		}
		if busy == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agents still timed after 30 s: %s", busy)
		}
		time.Sleep(50 * time.Millisecond)
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		lead := c.leader()
		if lead != nil {
			var v outboxView
			a := lead.must(t, http.MethodGet, "/edge/v1/outbox", "")
			if err := json.Unmarshal(a.raw, &v); err != nil {
				t.Fatalf("outbox: %v in %s", err, a.raw)
			}
			if v.Outbox.DeadLetters != 0 {
				t.Fatalf("%d dead letters: %s", v.Outbox.DeadLetters, a.raw)
			}
			if v.Outbox.Pending == 0 && (v.Forwarder == nil || v.Forwarder.InFlight == 0) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("outbox not drained to central after 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// agentsView is GET /edge/v1/agents as the tests read it.
type agentsView struct {
	Agents []struct {
		ID       int64 `json:"id"`
		Presence struct {
			Call string `json:"callRoutingStatus"`
		} `json:"presence"`
	} `json:"agents"`
}

// outboxView is the part of GET /edge/v1/outbox the tests read.
type outboxView struct {
	Outbox struct {
		Pending     int64 `json:"pending"`
		DeadLetters int64 `json:"deadLetters"`
	} `json:"outbox"`
	Forwarder *struct {
		InFlight int `json:"inFlight"`
	} `json:"forwarder"`
}
