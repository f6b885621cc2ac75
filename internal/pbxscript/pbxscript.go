// Package pbxscript is the PBX side of the violent tests that check
// central's picture of the calls (tests/central against one edge,
// tests/cluster against three members): a fixed script of calls of every
// kind, each with the follow-ups a PBX sends for it, the agents and
// customers the script needs at the edge, and what central must end up
// having applied for each kind.
//
// How a request reaches the edge is the test's, not the script's: it
// hands the script a Sender (one edge retried across its restarts, or a
// list of members tried in turn with the same body, so the same
// channelId).
package pbxscript

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/edgetest"
	"github.com/enneo-edge/enneo-edge/internal/fakecentral"
)

// Kind is a kind of call the script drives.
type Kind int

// The kinds, in the order call i takes them (i % NumKinds).
const (
	NativeRouted   Kind = iota // routed by the edge: getRouting until an agent is offered it, agentConnected
	NativeDeclined             // routed by the edge on a line whose skill nobody has: declined at once
	None                       // a bot call (routing none), some from a known customer's phone
	External                   // routed by the PBX: agentConnected of the worker's own agent
	OutboundHuman              // the worker's own agent calls out
	OutboundBot                // a bot calls out
	NumKinds
)

// Applied is what central must have applied for a call of kind k, in
// order, once each.
func (k Kind) Applied() []string {
	switch k {
	case NativeRouted, External:
		return []string{"callReceived", "agentConnected", "callCompleted"}
	case NativeDeclined, None, OutboundHuman, OutboundBot:
		return []string{"callReceived", "callCompleted"}
	}
	return nil
}

// What SetupAgents stores and the script uses.
const (
	RoutedAgents = 20  // agents 1..20 with skill 1, routed by the edge
	Workers      = 8   // PBX workers; worker w owns agent OwnAgentBase+w+1 for its external and outbound calls
	Customers    = 10  // customers 9001.. with phones +49301110000..
	OwnAgentBase = 100 // the workers' own agents follow this ID
)

// OwnAgent is the agent of worker w (0 ≤ w < Workers): no skill, so the
// edge never routes to it; the worker's external and outbound calls are
// its.
func OwnAgent(w int) int64 { return int64(OwnAgentBase + w + 1) }

// RoutingConfig is the [routing] section the script needs: subchannel 1
// needs skill 1 (the routed agents have it), subchannel 9 a skill nobody
// has (declined at once). ringTimeout is the test's: how long an offered
// call may ring before the edge takes it back.
func RoutingConfig(ringTimeout string) string {
	return fmt.Sprintf(`[routing]
acw = "1s"
ring_timeout = %q
timer_interval = "100ms"
subchannel_tags = { "1" = 1, "9" = 999 }
`, ringTimeout)
}

// Sender sends one request to the edge and returns the answer it settled
// on. It retries as the test's PBX does and reports on the test itself
// (t.Errorf, or t.Fatalf on the test's own goroutine) unless a 200 came;
// the script only reads the answer.
type Sender func(method, path, body string) edgetest.Answer

// SetupAgents logs the routed agents in with skill 1 and stores the
// workers' own agents (no skill: never routed) and the customers.
func SetupAgents(t testing.TB, send Sender) {
	t.Helper()
	for id := 1; id <= RoutedAgents; id++ {
		send("PUT", fmt.Sprintf("/edge/v1/agents/%d", id), fmt.Sprintf(`{"name":"Agent %d","skillTagIds":[1]}`, id))
		send("PATCH", fmt.Sprintf("/api/mind/profile/%d/routingStatus", id), `{"callRoutingStatus":"idle"}`)
	}
	for w := 1; w <= Workers; w++ {
		send("PUT", fmt.Sprintf("/edge/v1/agents/%d", OwnAgentBase+w), fmt.Sprintf(`{"name":"Own %d"}`, w))
	}
	var lines []string
	for i := range Customers {
		lines = append(lines, fmt.Sprintf(`{"id":"%d","contractIds":["k%d"],"phone":"+49301110000%d","lastname":"C%d"}`, 9001+i, i, i, i))
	}
	send("PUT", "/edge/v1/customers", strings.Join(lines, "\n"))
}

// Channel is call i's channelId.
func Channel(i int) string { return fmt.Sprintf("c-%d", i) }

// KindOf is call i's kind.
func KindOf(i int) Kind { return Kind(i % int(NumKinds)) }

// Identified is the customer ID the edge finds for call i's number, ""
// for an unknown number: every second call of kind None comes from a
// stored customer's phone.
func Identified(i int) string {
	if i%(int(NumKinds)*2) == int(None) {
		return strconv.Itoa(9001 + (i/(int(NumKinds)*2))%Customers)
	}
	return ""
}

// phone is call i's number: a stored customer's when Identified says so.
func phone(i int) string {
	if id := Identified(i); id != "" {
		n, _ := strconv.Atoi(id)
		return fmt.Sprintf("+49301110000%d", n-9001)
	}
	return fmt.Sprintf("+4940%07d", i)
}

// Script is one PBX worker playing the script: it sends a call's requests
// in order through its Sender.
type Script struct {
	t     testing.TB
	send  Sender
	own   int64
	acked func(ch string, kind Kind, ticket int64)
}

// New returns worker own's script (own: OwnAgent of the worker). acked,
// when not nil, hears of each callReceived the edge acknowledged, before
// the call's follow-ups go out; it may be called from the worker's
// goroutine.
func New(t testing.TB, send Sender, own int64, acked func(ch string, kind Kind, ticket int64)) *Script {
	return &Script{t: t, send: send, own: own, acked: acked}
}

// Call sends call i (Channel(i), KindOf(i)) with its follow-ups:
// callReceived, for a routed native call getRouting until an agent is
// offered it and then agentConnected of that agent, for an external call
// agentConnected of the worker's own agent, and callCompleted. An
// acknowledgement without a ticketId fails the test and ends the call.
func (s *Script) Call(i int) {
	s.t.Helper()
	ch, kind := Channel(i), KindOf(i)
	a := s.send("POST", "/api/mind/telephony/callReceived", s.callReceived(ch, kind, phone(i)))
	ticket := fakecentral.Num(a.Body["ticketId"])
	if ticket == 0 {
		s.t.Errorf("callReceived %s: no ticketId in %s", ch, a.Raw)
		return
	}
	if s.acked != nil {
		s.acked(ch, kind, ticket)
	}
	switch kind {
	case NativeRouted:
		agent := s.waitRouted(ticket)
		s.send("POST", "/api/mind/telephony/agentConnected", fmt.Sprintf(`{"userId":%d,"ticketId":%d}`, agent, ticket))
	case External:
		s.send("POST", "/api/mind/telephony/agentConnected", fmt.Sprintf(`{"userId":%d,"channelId":%q}`, s.own, ch))
	}
	s.send("POST", "/api/mind/telephony/callCompleted",
		fmt.Sprintf(`{"channelId":%q,"transcript":[{"speaker":"customer","message":"bye %d"}],"totalDurationSeconds":30}`, ch, i))
}

// callReceived is the body of a call's first request.
func (s *Script) callReceived(ch string, kind Kind, phone string) string {
	switch kind {
	case NativeRouted:
		return fmt.Sprintf(`{"routing":"native","subchannelId":1,"channelId":%q,"phone":%q}`, ch, phone)
	case NativeDeclined:
		return fmt.Sprintf(`{"routing":"native","subchannelId":9,"channelId":%q,"phone":%q}`, ch, phone)
	case None:
		return fmt.Sprintf(`{"routing":"none","channelId":%q,"phone":%q,"transcript":[{"speaker":"bot","message":"hi"}]}`, ch, phone)
	case External:
		return fmt.Sprintf(`{"routing":"external","channelId":%q,"phone":%q}`, ch, phone)
	case OutboundHuman:
		return fmt.Sprintf(`{"routing":"none","direction":"out","channelId":%q,"to":%q,"agentId":%d}`, ch, phone, s.own)
	case OutboundBot:
		return fmt.Sprintf(`{"routing":"none","direction":"out","channelId":%q,"to":%q,"aiAgentId":77}`, ch, phone)
	}
	panic(fmt.Sprintf("pbxscript: no call of kind %d", kind))
}

// waitRouted polls getRouting, as a PBX does for a native call, until the
// edge offers the call to an agent, and returns the agent. With a Sender
// over several members each poll may reach another one: the first, on a
// member other than the one that took callReceived, must already know the
// ticket (linearizable reads).
func (s *Script) waitRouted(ticket int64) int64 {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		a := s.send("GET", fmt.Sprintf("/api/mind/telephony/getRouting?ticketId=%d", ticket), "")
		if a.Body["status"] == "assigned" {
			return fakecentral.Num(a.Body["assignedUserId"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Errorf("ticket %d not routed within 60 s", ticket)
	return 0
}
