package central

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/fakecentral"
)

// Call kinds the PBX side of the test drives, each with the follow-ups a
// PBX sends for it and what central must end up having applied.
const (
	kindNativeRouted = iota
	kindNativeDeclined
	kindNone
	kindExternal
	kindOutboundHuman
	kindOutboundBot
	numKinds
)

var wantApplied = [numKinds][]string{
	kindNativeRouted:   {"callReceived", "agentConnected", "callCompleted"},
	kindNativeDeclined: {"callReceived", "callCompleted"},
	kindNone:           {"callReceived", "callCompleted"},
	kindExternal:       {"callReceived", "agentConnected", "callCompleted"},
	kindOutboundHuman:  {"callReceived", "callCompleted"},
	kindOutboundBot:    {"callReceived", "callCompleted"},
}

const (
	routedAgents = 20  // agents 1..20 with skill 1, routed by the edge
	pbxWorkers   = 8   // each owns agent 100+w for its external and outbound calls
	customers    = 10  // customers 9001.. with phones +49301110000..
	ownAgentBase = 100 // agents of the workers
)

// routingConfig gives the edge a line that needs skill 1 (the routed
// agents have it) and one whose skill nobody has (declined at once).
const routingConfig = `[routing]
acw = "1s"
ring_timeout = "5m"
timer_interval = "100ms"
subchannel_tags = { "1" = 1, "9" = 999 }
`

// TestExactlyOnceAtACentralThatDoesNotDeduplicate: 2,000 calls of every
// kind, 20 % of central's answers ambiguous (too late, connection dropped,
// 500, each after applying; or applied only after the edge gave up), 3
// SIGKILLs of the edge. Central must have
// routed no call, hold one ticket per acknowledged call, have applied every
// follow-up once and in order on the right ticket, and end with every
// agent's presence equal to the edge's.
func TestExactlyOnceAtACentralThatDoesNotDeduplicate(t *testing.T) {
	calls := 2000
	if testing.Short() {
		calls = 300
	}
	if v, err := strconv.Atoi(os.Getenv("EDGE_CENTRAL_CALLS")); err == nil && v > 0 {
		calls = v
	}
	c := fakecentral.New(t, fakecentral.Options{Token: centralToken, Ambiguous: 0.2, Late: 450 * time.Millisecond})
	// The fake's slow commits come 450 ms after the request, 150 ms after
	// the edge's timeout; the lookup waits 600 ms more, so a loaded machine
	// has room before the check that the edge waited long enough.
	e := startEdge(t, edgeConfig(t, t.TempDir(), c.URL(), "pull_interval = \"0s\"\nlookup_delay = \"600ms\"\n"+routingConfig))
	base := e.URL
	setupAgents(t, e)

	var (
		done  atomic.Int64
		mu    gosync.Mutex
		acked = map[string]int{} // channelId -> kind
		next  = make(chan int)
		wg    gosync.WaitGroup
	)
	for w := range pbxWorkers {
		wg.Go(func() {
			client := &http.Client{Timeout: 10 * time.Second}
			p := pbx{t: t, e: e, base: base, client: client, own: int64(ownAgentBase + w + 1)}
			for i := range next {
				kind := i % numKinds
				ch := fmt.Sprintf("c-%d", i)
				p.call(ch, i, kind)
				mu.Lock()
				acked[ch] = kind
				mu.Unlock()
				done.Add(1)
			}
		})
	}
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for k := 1; k <= 3; k++ {
			for done.Load() < int64(calls*k/4) {
				time.Sleep(10 * time.Millisecond)
			}
			e.Kill(t)
			time.Sleep(100 * time.Millisecond)
			e.restart(t)
		}
	}()
	for i := range calls {
		next <- i
	}
	close(next)
	wg.Wait()
	<-killed
	if t.Failed() {
		t.FailNow()
	}
	// After-call work ends on the edge's timer; its idle goes to central
	// too. Once no agent is in a timed state nothing changes any more.
	deadline := time.Now().Add(30 * time.Second)
	for settled := false; !settled; {
		var v agentsView
		e.get(t, "/edge/v1/agents", &v)
		settled = true
		for _, a := range v.Agents {
			if a.Presence.Call == "acw" || a.Presence.Call == "beingConnected" {
				settled = false
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("agents still in after-call work or ringing: %+v", v.Agents)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ob := e.waitDrained(t, 3*time.Minute)
	if ob.Outbox.DeadLetters != 0 {
		t.Fatalf("%d dead letters: %s", ob.Outbox.DeadLetters, ob.DeadLetters)
	}

	snap := c.Snapshot()
	byChannel, presence, routed, bad, tricks := snap.ByChannel, snap.Presence, snap.Routed, snap.Bad, snap.Tricks
	t.Logf("ambiguous answers given: %v; lookups %d, found %d (since the last restart)", tricks, ob.Forwarder.Lookups, ob.Forwarder.Found)
	for _, trick := range []string{"late", "drop", "500", "slow"} {
		if tricks[trick] < calls/50 {
			t.Errorf("only %d %q answers: the test did not test ambiguity", tricks[trick], trick)
		}
	}
	if routed != 0 {
		t.Errorf("central routed %d calls the edge had routed", routed)
	}
	for _, b := range bad {
		t.Error(b)
	}
	if len(byChannel) != len(acked) {
		t.Errorf("central holds %d channels, %d calls were acknowledged", len(byChannel), len(acked))
	}
	for ch, kind := range acked {
		tks := byChannel[ch]
		if len(tks) != 1 {
			t.Errorf("channel %s (kind %d): %d tickets at central", ch, kind, len(tks))
			continue
		}
		if got := tks[0].Applied; !slices.Equal(got, wantApplied[kind]) {
			t.Errorf("channel %s (kind %d): central applied %v, want %v", ch, kind, got, wantApplied[kind])
		}
		body := tks[0].Body
		switch kind {
		case kindNativeRouted, kindNativeDeclined:
			if body["routing"] != "external" {
				t.Errorf("channel %s: native call forwarded as %v", ch, body["routing"])
			}
		case kindNone:
			i, _ := strconv.Atoi(strings.TrimPrefix(ch, "c-"))
			if want := identified(i); want != "" && fmt.Sprint(body["customerId"]) != want {
				t.Errorf("channel %s: customerId %v at central, the edge identified %s", ch, body["customerId"], want)
			} else if _, isNum := body["customerId"].(json.Number); want != "" && !isNum {
				t.Errorf("channel %s: customerId %#v is not a number", ch, body["customerId"])
			}
		}
	}
	var agents struct {
		Agents []struct {
			ID       int64 `json:"id"`
			Presence struct {
				Call string `json:"callRoutingStatus"`
			} `json:"presence"`
		} `json:"agents"`
	}
	e.get(t, "/edge/v1/agents", &agents)
	if len(agents.Agents) != routedAgents+pbxWorkers {
		t.Errorf("%d agents at the edge", len(agents.Agents))
	}
	for _, a := range agents.Agents {
		if presence[a.ID] != a.Presence.Call {
			t.Errorf("agent %d: %q at central, %q at the edge", a.ID, presence[a.ID], a.Presence.Call)
		}
	}
}

// setupAgents logs the routed agents in with skill 1 and stores the
// workers' own agents (no skill: never routed) and the customers.
func setupAgents(t *testing.T, e *edge) {
	t.Helper()
	for id := 1; id <= routedAgents; id++ {
		e.must(t, http.DefaultClient, "PUT", fmt.Sprintf("/edge/v1/agents/%d", id), fmt.Sprintf(`{"name":"Agent %d","skillTagIds":[1]}`, id))
		e.must(t, http.DefaultClient, "PATCH", fmt.Sprintf("/api/mind/profile/%d/routingStatus", id), `{"callRoutingStatus":"idle"}`)
	}
	for w := 1; w <= pbxWorkers; w++ {
		e.must(t, http.DefaultClient, "PUT", fmt.Sprintf("/edge/v1/agents/%d", ownAgentBase+w), fmt.Sprintf(`{"name":"Own %d"}`, w))
	}
	var lines []string
	for i := range customers {
		lines = append(lines, fmt.Sprintf(`{"id":"%d","contractIds":["k%d"],"phone":"+49301110000%d","lastname":"C%d"}`, 9001+i, i, i, i))
	}
	e.must(t, http.DefaultClient, "PUT", "/edge/v1/customers", strings.Join(lines, "\n"))
}

// identified is the customer ID the edge finds for call i's number, "" for
// an unknown number.
func identified(i int) string {
	if i%(numKinds*2) == kindNone {
		return strconv.Itoa(9001 + (i/(numKinds*2))%customers)
	}
	return ""
}

// pbx plays the phone system: it sends a call's requests in order and
// retries each until the edge answers, as a PBX does across a restart.
type pbx struct {
	t      *testing.T
	e      *edge
	base   string
	client *http.Client
	own    int64
}

func (p pbx) send(method, path, body string) answer {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		a, err := do(p.client, p.base, method, path, body)
		if err == nil && a.code != http.StatusServiceUnavailable {
			if a.code != http.StatusOK {
				p.t.Errorf("%s %s %s: %d %s", method, path, body, a.code, a.raw)
			}
			return a
		}
		if time.Now().After(deadline) {
			p.t.Errorf("%s %s: no answer for 60 s: %v", method, path, err)
			return a
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p pbx) call(ch string, i, kind int) {
	phone := fmt.Sprintf("+4940%07d", i)
	if id := identified(i); id != "" {
		n, _ := strconv.Atoi(id)
		phone = fmt.Sprintf("+49301110000%d", n-9001)
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
		body = fmt.Sprintf(`{"routing":"none","direction":"out","channelId":%q,"to":%q,"agentId":%d}`, ch, phone, p.own)
	case kindOutboundBot:
		body = fmt.Sprintf(`{"routing":"none","direction":"out","channelId":%q,"to":%q,"aiAgentId":77}`, ch, phone)
	}
	a := p.send("POST", "/api/mind/telephony/callReceived", body)
	ticket := num(a.body["ticketId"])
	switch kind {
	case kindNativeRouted:
		agent := p.waitRouted(ticket)
		p.send("POST", "/api/mind/telephony/agentConnected", fmt.Sprintf(`{"userId":%d,"ticketId":%d}`, agent, ticket))
	case kindExternal:
		p.send("POST", "/api/mind/telephony/agentConnected", fmt.Sprintf(`{"userId":%d,"channelId":%q}`, p.own, ch))
	}
	p.send("POST", "/api/mind/telephony/callCompleted",
		fmt.Sprintf(`{"channelId":%q,"transcript":[{"speaker":"customer","message":"bye %d"}],"totalDurationSeconds":30}`, ch, i))
}

// waitRouted polls getRouting, as a PBX does for a native call, until the
// edge offers the call to an agent.
func (p pbx) waitRouted(ticket int64) int64 {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		a := p.send("GET", fmt.Sprintf("/api/mind/telephony/getRouting?ticketId=%d", ticket), "")
		if a.body["status"] == "assigned" {
			return num(a.body["assignedUserId"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Errorf("ticket %d not routed within 60 s", ticket)
	return 0
}
