package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/pbxscript"
)

// nativeConfig: a ring timeout short enough to run out during the test.
const nativeConfig = `[routing]
acw = "1s"
ring_timeout = "2s"
timer_interval = "100ms"
subchannel_tags = { "1" = 1 }
`

// TestNativeRoutingAcrossFailover: native routing keeps its promise when
// the leader, which runs the ring timers, dies. One call is connected to
// an agent and another rings for a second agent when the leader is
// SIGKILLed; a third agent is free. The ringing call is offered again, to
// the third agent, once its ring timeout has run out (not before), the
// second agent is notResponding; the connected call completes after the
// failover; no agent ever holds two calls.
func TestNativeRoutingAcrossFailover(t *testing.T) {
	c := newCluster(t, options{extra: nativeConfig})
	var rr atomic.Int64
	p := c.pbx(t, &rr)
	for id := 1; id <= 3; id++ {
		p.must("PUT", fmt.Sprintf("/edge/v1/agents/%d", id), fmt.Sprintf(`{"name":"Agent %d","skillTagIds":[1]}`, id))
	}
	p.must("PATCH", "/api/mind/profile/1/routingStatus", `{"callRoutingStatus":"idle"}`)
	p.must("PATCH", "/api/mind/profile/2/routingStatus", `{"callRoutingStatus":"idle"}`)
	ack := newAcked()
	receive := func(ch string) (ticket, agent int64) {
		a := p.must("POST", "/api/mind/telephony/callReceived", fmt.Sprintf(`{"routing":"native","subchannelId":1,"channelId":%q}`, ch))
		ticket = num(a.Body["ticketId"])
		ack.add(t, ch, pbxscript.NativeRouted, ticket)
		r := p.must("GET", fmt.Sprintf("/api/mind/telephony/getRouting?ticketId=%d", ticket), "")
		if r.Body["status"] != "assigned" {
			t.Fatalf("%s not offered at once with an agent idle: %s", ch, r.Raw)
		}
		return ticket, num(r.Body["assignedUserId"])
	}
	connected, talking := receive("n-connected")
	p.must("POST", "/api/mind/telephony/agentConnected", fmt.Sprintf(`{"userId":%d,"ticketId":%d}`, talking, connected))
	ringing, rung := receive("n-ringing")
	if rung == talking {
		t.Fatalf("agent %d offered the second call while talking on the first", rung)
	}
	free := int64(6) - talking - rung // the third of agents 1, 2, 3
	p.must("PATCH", fmt.Sprintf("/api/mind/profile/%d/routingStatus", free), `{"callRoutingStatus":"idle"}`)

	lead := c.waitLeader(10 * time.Second)
	killedAt := time.Now()
	lead.kill(t)
	took := c.firstAnswerAfter(t, killedAt, lead, "n-probe", ack)
	t.Logf("SIGKILL of leader %s: the first call answered %s later", lead.name, took.Round(time.Millisecond))

	// The ringing call goes to the free agent once the ring time is over.
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := p.must("GET", fmt.Sprintf("/api/mind/telephony/getRouting?ticketId=%d", ringing), "")
		if r.Body["status"] == "assigned" && num(r.Body["assignedUserId"]) == free {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ringing call was not offered to agent %d within 30 s of the failover: %s", free, r.Raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the call ringing at the SIGKILL was offered again %s after it", time.Since(killedAt).Round(time.Millisecond))
	if st := presenceOf(t, p, rung); st != "notResponding" {
		t.Errorf("agent %d who let the call ring out is %q, want notResponding", rung, st)
	}
	// The connected call completes on the new leader.
	p.must("POST", "/api/mind/telephony/callCompleted", `{"channelId":"n-connected","transcript":[],"totalDurationSeconds":20}`)
	var view struct {
		Ticket struct {
			CallEndedAt *time.Time `json:"callEndedAt"`
		} `json:"ticket"`
		Queue struct {
			Status string `json:"status"`
		} `json:"queueEntry"`
	}
	p.get(fmt.Sprintf("/edge/v1/tickets/%d", connected), &view)
	if view.Ticket.CallEndedAt == nil || view.Queue.Status != "completed" {
		t.Errorf("the call connected before the failover did not complete after it: %+v", view)
	}
	p.must("POST", "/api/mind/telephony/agentConnected", fmt.Sprintf(`{"userId":%d,"ticketId":%d}`, free, ringing))
	p.must("POST", "/api/mind/telephony/callCompleted", `{"channelId":"n-ringing","transcript":[]}`)

	lead.start(t)
	settle(t, c, p)
	c.waitCaughtUp(30 * time.Second)
	c.verifyTickets(ack)
	raw, _ := c.nodes[0].ticketOn(t, ringing)
	ringOut(t, raw, rung, free)
	c.verifyCentral(ack, p)
	c.checkFiles()
	c.verifyExports(ack)
}

// ringOut checks on the ticket's history that the call was given back to
// the queue no sooner than the ring timeout (2 s) after it was offered to
// the agent who let it ring, and then offered to next.
func ringOut(t *testing.T, raw json.RawMessage, rung, next int64) {
	t.Helper()
	var tk exportedTicket
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&tk); err != nil {
		t.Fatal(err)
	}
	var offered, released time.Time
	reoffered := false
	for _, ev := range tk.Events {
		if ev.Type != "queueStatusChanged" {
			continue
		}
		u := num(ev.Data["userId"])
		switch {
		case ev.Data["to"] == "assigned" && u == rung:
			offered = ev.At
		case ev.Data["to"] == "waitingForAgent" && u == rung:
			released = ev.At
		case ev.Data["to"] == "assigned" && u == next && !released.IsZero():
			reoffered = true
		}
	}
	if offered.IsZero() || released.IsZero() || !reoffered {
		t.Fatalf("ticket %d: offered to %d at %v, released at %v, offered to %d after: %v", tk.ID, rung, offered, released, next, reoffered)
	}
	if d := released.Sub(offered); d < 2*time.Second {
		t.Errorf("ticket %d released %s after it was offered, before the 2 s ring timeout", tk.ID, d)
	}
}

// presenceOf is the agent's callRoutingStatus as the cluster has it.
func presenceOf(t *testing.T, p pbx, id int64) string {
	t.Helper()
	st, ok := pbxscript.Presence(p.get)[id]
	if !ok {
		t.Fatalf("agent %d not in /edge/v1/agents", id)
	}
	return st
}
