package server

import (
	"slices"
	"strings"
	"testing"
)

func TestGetRoutingLookupsAndErrors(t *testing.T) {
	e, _ := newFlowEnv(t)
	e.loginAgent(1)
	ticket := e.nativeCall("lookup-1", 0)
	queue := e.entry(ticket).num("id")
	none := e.call(`{"routing":"none"}`).num("ticketId")

	for _, q := range []string{"ticketId=" + itoa(ticket), "queueId=" + itoa(queue), "channelId=lookup-1",
		"ticketId=" + itoa(ticket) + "&forceReEvaluation=true", "ticketId=" + itoa(ticket) + "&cleanState=1"} {
		a := e.routing(q)
		if a.code != 200 || a.num("id") != queue || a.num("ticketId") != ticket {
			t.Errorf("%s: %d %s", q, a.code, a.raw)
		}
	}
	// Every documented field is there, null where nothing is known.
	a := e.entry(ticket)
	for _, k := range []string{"id", "ticketId", "status", "declineReasonCode", "declineReasonMessage", "declineReasonDebugInfos",
		"primaryTagId", "channel", "subchannelId", "assignedUserId", "assignedUserRawData", "createdAt", "routedAt",
		"completedAt", "updatedAt", "positionDetails"} {
		if _, ok := a.body[k]; !ok {
			t.Errorf("field %s missing: %s", k, a.raw)
		}
	}
	for _, k := range []string{"declineReasonCode", "primaryTagId", "subchannelId", "assignedUserId", "assignedUserRawData", "routedAt", "completedAt"} {
		if a.body[k] != nil {
			t.Errorf("%s = %v, want null", k, a.body[k])
		}
	}

	tests := []struct {
		name, query string
		code        int
		wantErr     string
	}{
		{"no id", "", 400, "ticketId: required (or queueId or channelId)"},
		{"ticketId not a number", "ticketId=abc", 400, `ticketId: must be a positive integer, got "abc"`},
		{"ticketId negative", "ticketId=-4", 400, "ticketId: must be a positive integer"},
		{"queueId float", "queueId=1.5", 400, "queueId: must be a positive integer"},
		{"bad boolean", "ticketId=" + itoa(ticket) + "&forceReEvaluation=maybe", 400, `forceReEvaluation: must be true or false, got "maybe"`},
		{"bad cleanState", "ticketId=" + itoa(ticket) + "&cleanState=yes", 400, "cleanState: must be true or false"},
		{"bad test status", "ticketId=" + itoa(ticket) + "&testQueueStatusResponse=ringing", 400, `testQueueStatusResponse: must be one of preProcessing, waitingForAgent`},
		{"unknown ticket", "ticketId=1000700000009999", 404, "ticket 1000700000009999: not found"},
		{"unknown queue entry", "queueId=1000700000009999", 404, "queue entry 1000700000009999: not found"},
		{"unknown channel", "channelId=nope", 404, `channelId "nope": not found`},
		{"ticket without queue entry", "ticketId=" + itoa(none), 404, "has no queue entry"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.routing(tc.query)
			if a.code != tc.code || a.body["success"] != false || !strings.Contains(a.str("error"), tc.wantErr) {
				t.Fatalf("%d %s, want %d with %q", a.code, a.raw, tc.code, tc.wantErr)
			}
		})
	}

	// testQueueStatusResponse answers without routing.
	a = e.routing("ticketId=" + itoa(ticket) + "&testQueueStatusResponse=declined")
	if a.str("status") != "declined" || a.str("declineReasonCode") == "" || a.str("declineReasonDebugInfos") != "testQueueStatusResponse" {
		t.Errorf("test declined: %s", a.raw)
	}
	a = e.routing("ticketId=" + itoa(ticket) + "&testQueueStatusResponse=assigned&forceReEvaluation=true")
	if a.str("status") != "assigned" || a.body["declineReasonCode"] != nil {
		t.Errorf("test assigned: %s", a.raw)
	}
	if a := e.entry(ticket); a.str("status") != "waitingForAgent" {
		t.Errorf("test response changed the entry: %s", a.raw)
	}
}

// cleanState frees agents no live call backs (notResponding here).
func TestGetRoutingCleanState(t *testing.T) {
	e, clk := newFlowEnv(t)
	e.setStatus(1, "idle")
	ticket := e.nativeCall("clean-1", 0)
	clk.Advance(testRouting.RingTimeout)
	e.expire()
	if st := e.callStatus(1); st != "notResponding" {
		t.Fatalf("agent 1 %s", st)
	}
	a := e.routing("ticketId=" + itoa(ticket) + "&cleanState=true")
	if a.str("status") != "assigned" || a.num("assignedUserId") != 1 {
		t.Fatalf("after cleanState: %s", a.raw)
	}
}

func TestAgentConnectedRules(t *testing.T) {
	e, _ := newFlowEnv(t)
	bad := []struct{ name, body, wantErr string }{
		{"no userId", `{"ticketId":5}`, "userId: required"},
		{"userId string", `{"userId":"42","ticketId":5}`, "userId: must be an integer, got string"},
		{"userId zero", `{"userId":0,"ticketId":5}`, "userId: must be a positive integer"},
		{"no call", `{"userId":42}`, "ticketId: required (or channelId)"},
		{"null call", `{"userId":42,"ticketId":null,"channelId":null}`, "ticketId: required (or channelId)"},
		{"ticketId float", `{"userId":42,"ticketId":1.5}`, "ticketId: must be an integer, got 1.5"},
		{"channelId number", `{"userId":42,"channelId":7}`, "channelId: must be a string, got number"},
		{"not an object", `[]`, "body: must be a JSON object"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			a := e.connected(tc.body)
			if a.code != 400 || !strings.Contains(a.str("error"), tc.wantErr) {
				t.Fatalf("%d %s, want 400 with %q", a.code, a.raw, tc.wantErr)
			}
		})
	}
	for body, want := range map[string]string{
		`{"userId":42,"ticketId":1000700000009999}`: "ticket 1000700000009999: not found",
		`{"userId":42,"channelId":"nope"}`:          `channelId "nope": not found`,
	} {
		if a := e.connected(body); a.code != 404 || !strings.Contains(a.str("error"), want) {
			t.Errorf("%s: %d %s", body, a.code, a.raw)
		}
	}

	// Agent 1 rings, agent 2 picks up instead: agent 1 is free again.
	e.setStatus(1, "idle")
	e.loginAgent(2)
	ticket := e.nativeCall("pickup", 0)
	if a := e.connected(`{"userId":2,"ticketId":` + itoa(ticket) + `}`); a.code != 200 {
		t.Fatalf("pickup: %d %s", a.code, a.raw)
	}
	if e.callStatus(1) != "idle" || e.callStatus(2) != "interacting" || e.entry(ticket).num("assignedUserId") != 2 {
		t.Fatalf("after pickup by 2: agent 1 %s, agent 2 %s", e.callStatus(1), e.callStatus(2))
	}
	kinds, _ := outboxKinds(t, e.store)
	// A repeat is answered and changes nothing.
	if a := e.connected(`{"userId":2,"channelId":"pickup"}`); a.code != 200 {
		t.Fatalf("repeat: %d %s", a.code, a.raw)
	}
	if again, _ := outboxKinds(t, e.store); len(again) != len(kinds) {
		t.Errorf("repeat wrote to the outbox: %v", again)
	}
	// Agent 2 cannot take a second call while on this one.
	other := e.call(`{"routing":"external","channelId":"other"}`).num("ticketId")
	if a := e.connected(`{"userId":2,"ticketId":` + itoa(other) + `}`); a.code != 409 || !strings.Contains(a.str("error"), "on another call") {
		t.Fatalf("second call: %d %s", a.code, a.raw)
	}
	// An external call (no queue entry) can be connected to a free agent.
	if a := e.connected(`{"userId":1,"channelId":"other"}`); a.code != 200 || e.callStatus(1) != "interacting" {
		t.Fatalf("external call: %d %s (agent 1 %s)", a.code, a.raw, e.callStatus(1))
	}
	// A completed call cannot be connected.
	e.completed(`{"channelId":"other","transcript":[]}`)
	if a := e.connected(`{"userId":3,"channelId":"other"}`); a.code != 409 || !strings.Contains(a.str("error"), "already completed") {
		t.Fatalf("completed call: %d %s", a.code, a.raw)
	}
}

func TestCallCompletedRules(t *testing.T) {
	e, _ := newFlowEnv(t)
	bad := []struct{ name, body, wantErr string }{
		{"no channelId", `{"transcript":[]}`, "channelId: required"},
		{"empty channelId", `{"channelId":" ","transcript":[]}`, "channelId: required"},
		{"no transcript", `{"channelId":"c"}`, "transcript: required"},
		{"null transcript", `{"channelId":"c","transcript":null}`, "transcript: required"},
		{"transcript object", `{"channelId":"c","transcript":{}}`, "transcript: must be an array, got object"},
		{"entry without message", `{"channelId":"c","transcript":[{"speaker":"agent"}]}`, "transcript[0].message: required"},
		{"negative duration", `{"channelId":"c","transcript":[],"duration":-1}`, "duration: must not be negative"},
		{"float seconds", `{"channelId":"c","transcript":[],"humanDurationSeconds":1.5}`, "humanDurationSeconds: must be an integer, got 1.5"},
		{"string seconds", `{"channelId":"c","transcript":[],"botDurationSeconds":"3"}`, "botDurationSeconds: must be an integer, got string"},
		{"ticketId zero", `{"channelId":"c","transcript":[],"ticketId":0}`, "ticketId: must be a positive integer"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			a := e.completed(tc.body)
			if a.code != 400 || !strings.Contains(a.str("error"), tc.wantErr) {
				t.Fatalf("%d %s, want 400 with %q", a.code, a.raw, tc.wantErr)
			}
		})
	}
	if a := e.completed(`{"channelId":"nope","transcript":[]}`); a.code != 404 || !strings.Contains(a.str("error"), `channelId "nope": not found`) {
		t.Errorf("unknown channel: %d %s", a.code, a.raw)
	}
	if a := e.completed(`{"channelId":"x","ticketId":1000700000009999,"transcript":[]}`); a.code != 404 {
		t.Errorf("unknown ticket: %d %s", a.code, a.raw)
	}

	// A caller hangs up while waiting: the entry completes and leaves the
	// queue, the next caller moves up.
	e.loginAgent(1)
	first, second := e.nativeCall("hang-1", 0), e.nativeCall("hang-2", 0)
	body := `{"channelId":"hang-1","transcript":[{"speaker":"customer","message":"hallo?"}],"duration":30,"totalDurationSeconds":31}`
	if a := e.completed(body); a.code != 200 {
		t.Fatalf("hang-up: %d %s", a.code, a.raw)
	}
	if a := e.entry(first); a.str("status") != "completed" {
		t.Errorf("first: %s", a.raw)
	}
	if pd := e.entry(second).obj("positionDetails"); num(pd["position"]) != 0 {
		t.Errorf("second did not move up: %v", pd)
	}
	tk, _ := e.ticket(first)
	if d := tk["durations"].(map[string]any); num(d["totalDurationSeconds"]) != 31 {
		t.Errorf("totalDurationSeconds must win over duration: %v", d)
	}
	// A repeat does not append the transcript twice.
	if a := e.completed(body); a.code != 200 {
		t.Fatalf("repeat: %d %s", a.code, a.raw)
	}
	if tk, _ := e.ticket(first); len(tk["conversation"].([]any)) != 1 {
		t.Errorf("repeat appended: %v", tk["conversation"])
	}
	// ticketId wins over channelId.
	if a := e.completed(`{"channelId":"hang-1","ticketId":` + itoa(second) + `,"transcript":[]}`); a.code != 200 {
		t.Fatalf("by ticketId: %d %s", a.code, a.raw)
	}
	if a := e.entry(second); a.str("status") != "completed" {
		t.Errorf("second: %s", a.raw)
	}
}

func TestAgentsAndAvailability(t *testing.T) {
	e, _ := newFlowEnv(t)
	bad := []struct{ name, path, body, wantErr string }{
		{"bad id", "/edge/v1/agents/x", `{}`, "id: must be a positive integer"},
		{"skills not array", "/edge/v1/agents/1", `{"skillTagIds":46}`, "skillTagIds: must be an array of integers, got number"},
		{"skill zero", "/edge/v1/agents/1", `{"skillTagIds":[46,0]}`, "skillTagIds[1]: must be a positive integer"},
		{"skill string", "/edge/v1/agents/1", `{"skillTagIds":["46"]}`, "skillTagIds[0]: must be an integer, got string"},
		{"rawData string", "/edge/v1/agents/1", `{"rawData":"200"}`, "rawData: must be an object, got string"},
		{"name number", "/edge/v1/agents/1", `{"name":5}`, "name: must be a string, got number"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do("PUT", tc.path, tc.body)
			if a.code != 400 || !strings.Contains(a.str("error"), tc.wantErr) {
				t.Fatalf("%d %s, want 400 with %q", a.code, a.raw, tc.wantErr)
			}
		})
	}

	// A waiting call on line 5 (skill 46) goes to agent 4 once they get the skill.
	e.putAgent(4, `{"name":"Bo","skillTagIds":[47]}`)
	e.putAgent(5, `{"name":"Cy","skillTagIds":[46]}`)
	e.loginAgent(5)
	e.setStatus(4, "idle")
	ticket := e.nativeCall("skill", 5)
	if a := e.entry(ticket); a.str("status") != "waitingForAgent" {
		t.Fatalf("before skill change: %s", a.raw)
	}
	if a := e.putAgent(4, `{"name":"Bo","skillTagIds":[46,47],"rawData":{"sip":"204"}}`); a.code != 200 {
		t.Fatalf("put: %d %s", a.code, a.raw)
	}
	a := e.entry(ticket)
	if a.num("assignedUserId") != 4 || a.obj("assignedUserRawData")["sip"] != "204" {
		t.Fatalf("after skill change: %s", a.raw)
	}

	list := e.do("GET", "/edge/v1/agents", "")
	agents, _ := list.body["agents"].([]any)
	if list.code != 200 || len(agents) != 2 {
		t.Fatalf("agents: %d %s", list.code, list.raw)
	}
	bo := agents[0].(map[string]any)
	if bo["name"] != "Bo" || !slices.Equal(ids(bo["skillTagIds"]), []int64{46, 47}) ||
		bo["presence"].(map[string]any)["callRoutingStatus"] != "beingConnected" {
		t.Errorf("agent 4: %v", bo)
	}

	av := e.do("GET", "/api/mind/telephony/routingAvailability", "")
	rows, _ := av.body["agents"].([]any)
	if av.code != 200 || len(rows) != 2 {
		t.Fatalf("availability: %d %s", av.code, av.raw)
	}
	r := rows[0].(map[string]any)
	if num(r["userId"]) != 4 || r["callRoutingStatus"] != "beingConnected" || !slices.Equal(ids(r["queuedTicketIds"]), []int64{ticket}) ||
		len(ids(r["currentTicketIds"])) != 0 || !queueTime.MatchString(r["callRoutingStatusSince"].(string)) {
		t.Errorf("availability of 4: %v", r)
	}
	e.connected(`{"userId":4,"ticketId":` + itoa(ticket) + `}`)
	one := e.do("GET", "/api/mind/telephony/routingAvailability?userId=4", "")
	rows, _ = one.body["agents"].([]any)
	if one.code != 200 || len(rows) != 1 || !slices.Equal(ids(rows[0].(map[string]any)["currentTicketIds"]), []int64{ticket}) {
		t.Errorf("availability of 4 on the call: %d %s", one.code, one.raw)
	}
	if a := e.do("GET", "/api/mind/telephony/routingAvailability?userId=77", ""); a.code != 404 || !strings.Contains(a.str("error"), "user 77: not found") {
		t.Errorf("unknown user: %d %s", a.code, a.raw)
	}
	if a := e.do("GET", "/api/mind/telephony/routingAvailability?userId=x", ""); a.code != 400 {
		t.Errorf("bad userId: %d %s", a.code, a.raw)
	}
}

// forceReEvaluation applies due timers itself, and costs no commit when
// nothing is due.
func TestGetRoutingForceReEvaluation(t *testing.T) {
	e, clk := newFlowEnv(t)
	e.setStatus(1, "idle")
	ticket := e.nativeCall("force-1", 0)
	q := "ticketId=" + itoa(ticket) + "&forceReEvaluation=true"
	before, _ := e.store.CommitStats()
	if a := e.routing(q); a.str("status") != "assigned" {
		t.Fatalf("forced poll: %s", a.raw)
	}
	if after, _ := e.store.CommitStats(); after != before {
		t.Errorf("a forced poll with nothing due committed %d times", after-before)
	}
	clk.Advance(testRouting.RingTimeout)
	if a := e.routing(q); a.str("status") != "waitingForAgent" || e.callStatus(1) != "notResponding" {
		t.Fatalf("forced poll after the ring time: %s (agent 1 %s)", a.raw, e.callStatus(1))
	}
}

// An agent not logged in yet has a presence without times: null in
// /edge/v1/agents as in routingAvailability, not 0001-01-01.
func TestAgentNeverLoggedInHasNullTimes(t *testing.T) {
	e := newEnv(t)
	e.putAgent(9, `{"name":"New"}`)
	list := e.do("GET", "/edge/v1/agents", "")
	if !strings.Contains(list.raw, `"presence":{"userId":9,"callRoutingStatus":"offline","chatRoutingStatus":"offline","updatedAt":null,"callRoutingStatusSince":null}`) {
		t.Errorf("agents: %s", list.raw)
	}
	e.setStatus(9, "idle")
	if list := e.do("GET", "/edge/v1/agents", ""); strings.Contains(list.raw, `"updatedAt":null`) || strings.Contains(list.raw, "0001-01-01") {
		t.Errorf("after login: %s", list.raw)
	}
}
