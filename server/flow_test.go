package server

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var queueTime = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`)

// The whole life of a native call: waiting → agent idle → assigned →
// agentConnected → callCompleted → acw → idle, with events and outbox.
func TestFullCallStory(t *testing.T) {
	e, clk := newFlowEnv(t)
	if a := e.putAgent(20, `{"name":"Ada","skillTagIds":[46],"rawData":{"sipExtension":"200"}}`); a.code != 200 {
		t.Fatalf("put agent: %d %s", a.code, a.raw)
	}
	e.loginAgent(20)
	ticket := e.nativeCall("story-1", 5)

	a := e.entry(ticket)
	if a.str("status") != "waitingForAgent" || a.body["assignedUserId"] != nil || a.body["routedAt"] != nil {
		t.Fatalf("waiting entry: %s", a.raw)
	}
	if _, ok := a.body["success"]; ok {
		t.Errorf("getRouting has a success wrapper: %s", a.raw)
	}
	pd := a.obj("positionDetails")
	if num(pd["position"]) != 0 || !slices.Equal(ids(pd["agentsOnlineWithMatchingSkills"]), []int64{20}) ||
		num(pd["estimatedWaitingTimeInSeconds"]) != 60 {
		t.Errorf("positionDetails %v", pd)
	}
	if a.num("primaryTagId") != 46 || a.num("subchannelId") != 5 || a.str("channel") != "phone" {
		t.Errorf("tag/line/channel: %s", a.raw)
	}
	if a.str("createdAt") != "2026-03-02 09:00:00" || !queueTime.MatchString(a.str("updatedAt")) {
		t.Errorf("times: createdAt %q updatedAt %q", a.str("createdAt"), a.str("updatedAt"))
	}

	clk.Advance(5 * time.Second)
	e.setStatus(20, "idle")
	a = e.entry(ticket)
	if a.str("status") != "assigned" || a.num("assignedUserId") != 20 || a.str("routedAt") != "2026-03-02 09:00:05" {
		t.Fatalf("assigned entry: %s", a.raw)
	}
	if raw := a.obj("assignedUserRawData"); raw["sipExtension"] != "200" {
		t.Errorf("assignedUserRawData %v", a.body["assignedUserRawData"])
	}
	if st := e.callStatus(20); st != "beingConnected" {
		t.Fatalf("agent %s, want beingConnected", st)
	}

	clk.Advance(5 * time.Second)
	if c := e.connected(`{"userId":20,"channelId":"story-1"}`); c.code != 200 || c.raw != `{"success":true}` {
		t.Fatalf("agentConnected: %d %s", c.code, c.raw)
	}
	if a = e.entry(ticket); a.str("status") != "currentlyProcessed" || a.num("assignedUserId") != 20 {
		t.Fatalf("connected entry: %s", a.raw)
	}
	if st := e.callStatus(20); st != "interacting" {
		t.Fatalf("agent %s, want interacting", st)
	}

	clk.Advance(2 * time.Minute)
	c := e.completed(`{"channelId":"story-1","transcript":[{"speaker":"customer","message":"Hallo"},{"speaker":"bot","message":"Guten Tag"}],` +
		`"duration":140,"botDurationSeconds":10,"queueDurationSeconds":10,"humanDurationSeconds":120}`)
	if c.code != 200 {
		t.Fatalf("callCompleted: %d %s", c.code, c.raw)
	}
	if a = e.entry(ticket); a.str("status") != "completed" || a.str("completedAt") != "2026-03-02 09:02:10" {
		t.Fatalf("completed entry: %s", a.raw)
	}
	if st := e.callStatus(20); st != "acw" {
		t.Fatalf("agent %s, want acw", st)
	}
	clk.Advance(29 * time.Second)
	if n := e.expire(); n != 0 || e.callStatus(20) != "acw" {
		t.Fatalf("acw ended early: %d changes, status %s", n, e.callStatus(20))
	}
	clk.Advance(time.Second)
	if n := e.expire(); n != 1 || e.callStatus(20) != "idle" {
		t.Fatalf("acw did not end: %d changes, status %s", n, e.callStatus(20))
	}

	tk, _ := e.ticket(ticket)
	if num(tk["agentId"]) != 20 || len(tk["conversation"].([]any)) != 2 {
		t.Errorf("ticket agentId %v conversation %v", tk["agentId"], tk["conversation"])
	}
	d := tk["durations"].(map[string]any)
	if num(d["totalDurationSeconds"]) != 140 || num(d["humanDurationSeconds"]) != 120 {
		t.Errorf("durations %v (duration must stand in for totalDurationSeconds)", d)
	}
	want := []string{"ticketCreated", "queueEntryCreated",
		"queueStatusChanged:assigned", "presenceChanged:beingConnected/routed",
		"queueStatusChanged:currentlyProcessed", "agentConnected", "presenceChanged:interacting/agentConnected",
		"callCompleted", "queueStatusChanged:completed", "presenceChanged:acw/callCompleted",
		"presenceChanged:idle/acwDone"}
	if got := eventTypes(tk); !slices.Equal(got, want) {
		t.Errorf("events\n got %v\nwant %v", got, want)
	}

	kinds, bodies := outboxKinds(t, e.store)
	// Central follows every presence change the edge made, in the edge's
	// order with the call's follow-ups, and gets the routed call as
	// external: its own ACD must not route it again.
	if got := strings.Join(kinds, ","); got != "routingStatus,callReceived,routingStatus,agentConnected,routingStatus,callCompleted,routingStatus,routingStatus" {
		t.Fatalf("outbox kinds %s", got)
	}
	var presence []string
	for i, k := range kinds {
		if k == "routingStatus" {
			presence = append(presence, fmt.Sprint(bodies[i]["callRoutingStatus"]))
		}
	}
	if got := strings.Join(presence, ","); got != "unavailable,beingConnected,interacting,acw,idle" {
		t.Errorf("presence forwarded %s", got)
	}
	if bodies[1]["routing"] != "external" || bodies[1]["status"] != "open" || bodies[1]["triggerAiProcessing"] != true {
		t.Errorf("callReceived forwarded as %v", bodies[1])
	}
	if num(bodies[3]["ticketId"]) != ticket || num(bodies[3]["userId"]) != 20 || bodies[3]["channelId"] != "story-1" {
		t.Errorf("agentConnected body %v", bodies[3])
	}
	if num(bodies[5]["ticketId"]) != ticket || num(bodies[5]["duration"]) != 140 || len(bodies[5]["transcript"].([]any)) != 2 {
		t.Errorf("callCompleted body %v", bodies[5])
	}
	// Going idle offered the waiting call at once: one transaction, so
	// central gets where it ended, beingConnected.
	if bodies[2]["callRoutingStatus"] != "beingConnected" {
		t.Errorf("routingStatus body %v", bodies[2])
	}

	// The handling time (120 s) now drives the estimate.
	e.setStatus(20, "unavailable")
	next := e.nativeCall("story-2", 5)
	if pd := e.entry(next).obj("positionDetails"); num(pd["estimatedWaitingTimeInSeconds"]) != 120 {
		t.Errorf("estimate after one 120 s call: %v", pd)
	}
}

// An unanswered ring makes the agent notResponding and the call goes to the
// next agent, longest idle first.
func TestRingTimeoutReoffersToNextAgent(t *testing.T) {
	e, clk := newFlowEnv(t)
	e.setStatus(1, "idle")
	clk.Advance(time.Second)
	e.setStatus(2, "idle")
	ticket := e.nativeCall("ring-1", 0)
	if a := e.entry(ticket); a.num("assignedUserId") != 1 {
		t.Fatalf("longest-idle agent 1 should ring first: %s", a.raw)
	}
	clk.Advance(19 * time.Second)
	if n := e.expire(); n != 0 {
		t.Fatalf("ring timed out early (%d changes)", n)
	}
	clk.Advance(time.Second)
	if n := e.expire(); n < 1 {
		t.Fatal("ring did not time out")
	}
	if st := e.callStatus(1); st != "notResponding" {
		t.Errorf("agent 1 %s, want notResponding", st)
	}
	a := e.entry(ticket)
	if a.str("status") != "assigned" || a.num("assignedUserId") != 2 || e.callStatus(2) != "beingConnected" {
		t.Fatalf("not re-offered to agent 2: %s (agent 2 %s)", a.raw, e.callStatus(2))
	}
	tk, _ := e.ticket(ticket)
	got := strings.Join(eventTypes(tk), ",")
	if !strings.Contains(got, "queueStatusChanged:waitingForAgent,presenceChanged:notResponding/ringTimeout,queueStatusChanged:assigned,presenceChanged:beingConnected/routed") {
		t.Errorf("events %s", got)
	}
	// Agent 2 does not answer either: the call waits, nobody is idle.
	clk.Advance(20 * time.Second)
	e.expire()
	if a := e.entry(ticket); a.str("status") != "waitingForAgent" || a.body["assignedUserId"] != nil {
		t.Fatalf("after both rings: %s", a.raw)
	}
	// Agent 1 comes back and gets it.
	e.setStatus(1, "idle")
	if a := e.entry(ticket); a.num("assignedUserId") != 1 {
		t.Fatalf("back to agent 1: %s", a.raw)
	}
}

func TestDeclines(t *testing.T) {
	e, clk := newFlowEnv(t)
	// Nobody logged in.
	a := e.entry(e.nativeCall("nobody", 0))
	if a.str("status") != "declined" || a.str("declineReasonCode") != "noAgentsOnline" || a.str("declineReasonMessage") == "" ||
		a.str("completedAt") == "" {
		t.Fatalf("no agents: %s", a.raw)
	}
	if got := ids(a.obj("positionDetails")["agentsOnlineWithMatchingSkills"]); len(got) != 0 {
		t.Errorf("agents online %v", got)
	}
	// Logged in, but without the line's skill.
	e.putAgent(3, `{"skillTagIds":[47]}`)
	e.loginAgent(3)
	if a := e.entry(e.nativeCall("wrong-skill", 5)); a.str("declineReasonCode") != "noAgentsOnline" {
		t.Fatalf("skill 46 with only skill 47 online: %s", a.raw)
	}
	// A call on line 6 (skill 47) waits, and is declined after max wait.
	waiting := e.nativeCall("long-wait", 6)
	if a := e.entry(waiting); a.str("status") != "waitingForAgent" {
		t.Fatalf("line 6: %s", a.raw)
	}
	clk.Advance(10*time.Minute - time.Second)
	e.expire()
	if a := e.entry(waiting); a.str("status") != "waitingForAgent" {
		t.Fatalf("declined before max wait: %s", a.raw)
	}
	clk.Advance(time.Second)
	e.expire()
	if a := e.entry(waiting); a.str("status") != "declined" || a.str("declineReasonCode") != "maxWaitExceeded" {
		t.Fatalf("after max wait: %s", a.raw)
	}
	// A declined call cannot be connected.
	if c := e.connected(`{"userId":3,"ticketId":` + itoa(waiting) + `}`); c.code != 409 || !strings.Contains(c.str("error"), "declined") {
		t.Errorf("connect declined call: %d %s", c.code, c.raw)
	}
}

func TestTwoCallsOneAgentPositions(t *testing.T) {
	e, _ := newFlowEnv(t)
	e.loginAgent(7)
	first, second := e.nativeCall("pos-1", 0), e.nativeCall("pos-2", 0)
	for i, tc := range []struct {
		ticket        int64
		pos, estimate int64
	}{{first, 0, 60}, {second, 1, 120}} {
		pd := e.entry(tc.ticket).obj("positionDetails")
		if num(pd["position"]) != tc.pos || num(pd["estimatedWaitingTimeInSeconds"]) != tc.estimate {
			t.Errorf("call %d: positionDetails %v, want position %d estimate %d", i+1, pd, tc.pos, tc.estimate)
		}
	}
	e.setStatus(7, "idle")
	if a := e.entry(first); a.str("status") != "assigned" {
		t.Errorf("first call: %s", a.raw)
	}
	if pd := e.entry(second).obj("positionDetails"); num(pd["position"]) != 0 {
		t.Errorf("second call moves up: %v", pd)
	}
	// The first caller hangs up while ringing: agent free, second call rings.
	if c := e.completed(`{"channelId":"pos-1","transcript":[]}`); c.code != 200 {
		t.Fatalf("hang-up: %d %s", c.code, c.raw)
	}
	if a := e.entry(second); a.str("status") != "assigned" || a.num("assignedUserId") != 7 {
		t.Errorf("second call after hang-up: %s", a.raw)
	}
}

func TestRoutingStatusIfCurrent(t *testing.T) {
	e, _ := newFlowEnv(t)
	e.setStatus(8, "idle")
	a := e.presence(8, `{"callRoutingStatus":"unavailable","ifCurrent":"interacting"}`)
	if a.code != 409 || a.body["success"] != false || !strings.Contains(a.str("error"), "ifCurrent: callRoutingStatus of user 8 is idle, not interacting") {
		t.Fatalf("ifCurrent mismatch: %d %s", a.code, a.raw)
	}
	if st := e.callStatus(8); st != "idle" {
		t.Fatalf("status changed on conflict: %s", st)
	}
	if a := e.presence(8, `{"callRoutingStatus":"unavailable","ifCurrent":"idle"}`); a.code != 200 || a.str("callRoutingStatus") != "unavailable" {
		t.Fatalf("ifCurrent match: %d %s", a.code, a.raw)
	}
	if a := e.presence(8, `{"chatRoutingStatus":"idle","ifCurrent":"offline"}`); a.code != 200 || a.str("chatRoutingStatus") != "idle" {
		t.Fatalf("chat ifCurrent: %d %s", a.code, a.raw)
	}
	// On a live call, only callCompleted frees the agent.
	e.setStatus(8, "idle")
	ticket := e.nativeCall("busy", 0)
	e.connected(`{"userId":8,"ticketId":` + itoa(ticket) + `}`)
	if a := e.presence(8, `{"callRoutingStatus":"idle"}`); a.code != 409 || !strings.Contains(a.str("error"), "is on a call") {
		t.Fatalf("idle during a call: %d %s", a.code, a.raw)
	}
	kinds, _ := outboxKinds(t, e.store)
	// Four requests applied, plus the ring and the pick-up the edge made
	// itself; the two refused requests are not forwarded.
	if n := strings.Count(strings.Join(kinds, ","), "routingStatus"); n != 6 {
		t.Errorf("%d routingStatus records, want 6 (refused changes are not forwarded): %v", n, kinds)
	}
	// The edge decided the compare-and-set; central gets the outcome only.
	recs, err := e.store.Outbox(1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Kind == "routingStatus" && strings.Contains(string(r.Body), "ifCurrent") {
			t.Errorf("forwarded presence change carries ifCurrent: %s", r.Body)
		}
	}
}

func TestRoutingStatusBadInput(t *testing.T) {
	e, _ := newFlowEnv(t)
	tests := []struct {
		name, path, body, wantErr string
		code                      int
	}{
		{"bad id", "/api/mind/profile/abc/routingStatus", `{"callRoutingStatus":"idle"}`, "id: must be a positive integer", 400},
		{"zero id", "/api/mind/profile/0/routingStatus", `{"callRoutingStatus":"idle"}`, "id: must be a positive integer", 400},
		{"available is not a value", "/api/mind/profile/1/routingStatus", `{"callRoutingStatus":"available"}`, `callRoutingStatus: must be one of idle, beingConnected`, 400},
		{"chat number", "/api/mind/profile/1/routingStatus", `{"chatRoutingStatus":1}`, "chatRoutingStatus: must be a string, got number", 400},
		{"bad ifCurrent", "/api/mind/profile/1/routingStatus", `{"callRoutingStatus":"idle","ifCurrent":"busy"}`, `ifCurrent: must be one of`, 400},
		{"nothing to set", "/api/mind/profile/1/routingStatus", `{"ifCurrent":"idle"}`, "callRoutingStatus: required (or chatRoutingStatus)", 400},
		{"not an object", "/api/mind/profile/1/routingStatus", `"idle"`, "body: must be a JSON object", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do("PATCH", tc.path, tc.body)
			if a.code != tc.code || !strings.Contains(a.str("error"), tc.wantErr) {
				t.Fatalf("%d %s, want %d with %q", a.code, a.raw, tc.code, tc.wantErr)
			}
		})
	}
}
