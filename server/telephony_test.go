package server

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	json "github.com/goccy/go-json"
)

func TestCallReceivedDefaults(t *testing.T) {
	e := newEnv(t)
	e.loginAgent(99) // native calls wait only while someone is logged in
	tests := []struct {
		name                 string
		body                 string
		status, direction    string
		triggerAI            bool
		queueStatus          string // "" = no queue entry
		queueIDInAnswer      bool
		wantIOResponsePrefix string
	}{
		{"empty object is routing none", `{}`, "closed", "in", false, "", false, "None"},
		{"nulls mean absent", `{"routing":null,"direction":null,"status":null,"triggerAiProcessing":null,"phone":null}`, "closed", "in", false, "", false, "None"},
		{"external", `{"routing":"external"}`, "open", "in", true, "", false, "Deferred"},
		{"external without AI", `{"routing":"external","triggerAiProcessing":false}`, "open", "in", false, "", false, "None, as triggerAiProcessing is false"},
		{"native", `{"routing":"native"}`, "open", "in", true, "waitingForAgent", true, "None"},
		{"explicit status wins", `{"routing":"native","status":"pending"}`, "pending", "in", true, "waitingForAgent", true, "None"},
		{"none with AI forced on", `{"routing":"none","triggerAiProcessing":true,"status":"open"}`, "open", "in", true, "", false, "None"},
		{"outbound bot call", `{"direction":"out","to":"+4930123456"}`, "closed", "out", false, "unknown", false, "None"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.call(tc.body)
			if a.code != 200 {
				t.Fatalf("code %d: %s", a.code, a.raw)
			}
			if a.body["success"] != true || a.num("ticketId") == 0 {
				t.Fatalf("answer %s", a.raw)
			}
			if !strings.HasPrefix(a.str("ioResponse"), tc.wantIOResponsePrefix) {
				t.Errorf("ioResponse %q, want prefix %q", a.str("ioResponse"), tc.wantIOResponsePrefix)
			}
			if _, ok := a.body["queueId"]; ok != tc.queueIDInAnswer {
				t.Errorf("queueId present=%v, want %v: %s", ok, tc.queueIDInAnswer, a.raw)
			}
			for _, k := range []string{"contractId", "customerId"} {
				if v, ok := a.body[k]; !ok || v != nil {
					t.Errorf("%s = %v (present %v), want null", k, v, ok)
				}
			}
			tk, q := e.ticket(a.num("ticketId"))
			if tk["status"] != tc.status || tk["direction"] != tc.direction || tk["triggerAiProcessing"] != tc.triggerAI || tk["channel"] != "phone" {
				t.Errorf("ticket status=%v direction=%v triggerAi=%v channel=%v", tk["status"], tk["direction"], tk["triggerAiProcessing"], tk["channel"])
			}
			if tc.queueStatus == "" {
				if q != nil {
					t.Errorf("unexpected queue entry %v", q)
				}
			} else if q == nil || q["status"] != tc.queueStatus {
				t.Errorf("queue entry %v, want status %s", q, tc.queueStatus)
			} else if tc.queueIDInAnswer && num(q["id"]) != a.num("queueId") {
				t.Errorf("queueId %d, entry id %v", a.num("queueId"), q["id"])
			}
		})
	}
}

func TestCallReceivedBadInput(t *testing.T) {
	e := newEnv(t)
	tests := []struct{ name, body, wantErr string }{
		{"not JSON", `hello`, "body: must be a JSON object"},
		{"array", `[{"routing":"none"}]`, "body: must be a JSON object"},
		{"null body", `null`, "body: must be a JSON object"},
		{"empty body", ``, "body: must be a JSON object"},
		{"truncated", `{"routing":"none"`, "body: invalid JSON"},
		{"trailing garbage", `{}{}`, "body: invalid JSON"},
		{"bad routing", `{"routing":"magic"}`, `routing: must be one of none, external, native, got "magic"`},
		{"routing number", `{"routing":1}`, "routing: must be a string, got number"},
		{"bad direction", `{"direction":"sideways"}`, `direction: must be one of in, out`},
		{"bad status", `{"status":"resolved"}`, `status: must be one of open, closed, pending`},
		{"status bool", `{"status":true}`, "status: must be a string, got boolean"},
		{"outbound without to", `{"direction":"out","agentId":5}`, "to: required for direction out"},
		{"outbound empty to", `{"direction":"out","to":"  "}`, "to: required for direction out"},
		{"userId with native", `{"routing":"native","userId":42}`, "userId: not allowed with routing native"},
		{"agentId 30 digits", `{"agentId":123456789012345678901234567890}`, "agentId: integer out of range"},
		{"agentId string", `{"agentId":"42"}`, "agentId: must be an integer, got string"},
		{"agentId float", `{"agentId":4.5}`, "agentId: must be an integer, got 4.5"},
		{"agentId zero", `{"agentId":0}`, "agentId: must be a positive integer"},
		{"userId object", `{"userId":{"id":1}}`, "userId: must be an integer, got object"},
		{"subchannelId negative", `{"subchannelId":-3}`, "subchannelId: must be a positive integer"},
		{"triggerAi string", `{"triggerAiProcessing":"yes"}`, "triggerAiProcessing: must be a boolean, got string"},
		{"phone number", `{"phone":491711234567}`, "phone: must be a string, got number"},
		{"contractId bool", `{"contractId":true}`, "contractId: must be a string or an integer, got boolean"},
		{"contractId float", `{"contractId":12.5}`, "contractId: must be a string or a non-negative integer"},
		{"customerId array", `{"customerId":[1]}`, "customerId: must be a string or an integer, got array"},
		{"transcript object", `{"transcript":{"speaker":"customer"}}`, "transcript: must be an array, got object"},
		{"transcript entry string", `{"transcript":["hi"]}`, "transcript[0]: must be an object, got string"},
		{"speaker missing", `{"transcript":[{"speaker":"customer","message":"a"},{"message":"hi"}]}`, "transcript[1].speaker: required"},
		{"message missing", `{"transcript":[{"speaker":"customer"}]}`, "transcript[0].message: required"},
		{"message null", `{"transcript":[{"speaker":"customer","message":null}]}`, "transcript[0].message: required"},
		{"speaker unknown", `{"transcript":[{"speaker":"robot","message":"x"}]}`, `transcript[0].speaker: must be one of customer, agent`},
		{"message number", `{"transcript":[{"speaker":"agent","message":5}]}`, "transcript[0].message: must be a string, got number"},
		{"bad timestamp", `{"transcript":[{"speaker":"agent","message":"x","timestamp":"yesterday"}]}`, "transcript[0].timestamp: must be an RFC 3339 date-time"},
		{"bad escape", `{"phone":"\x"}`, "body: invalid JSON"},
		{"control char", "{\"phone\":\"a\x01b\"}", "body: invalid JSON"},
		{"too deep", `{"x":` + strings.Repeat("[", 600) + strings.Repeat("]", 600) + `}`, "body: nested too deeply"},
		{"channelId too long", `{"channelId":"` + strings.Repeat("c", 300) + `"}`, "channelId: longer than 256 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.call(tc.body)
			if a.code != 400 {
				t.Fatalf("code %d, want 400: %s", a.code, a.raw)
			}
			if a.body["success"] != false || !strings.Contains(a.str("error"), tc.wantErr) {
				t.Fatalf("error %q, want it to contain %q", a.str("error"), tc.wantErr)
			}
		})
	}
	if n, _ := e.store.TicketCount(); n != 0 {
		t.Fatalf("bad input created %d tickets", n)
	}
}

func TestCallReceivedAcceptsEveryGeneration(t *testing.T) {
	e := newEnv(t)
	bodies := []string{
		// v1: ids as numbers, bot speaker, cookie-era fields only.
		`{"contractId":123456,"customerId":789012,"phone":"+491234567890","transcript":[{"speaker":"bot","message":"Hallo"}],"userId":42,"channelId":"v1-call"}`,
		// v2: ids as strings, routing and friends.
		`{"routing":"external","contractId":"123456","customerId":"789012","phone":"+491234567890","userId":42,"channelId":"v2-call","callerName":"John Smith","direction":"in","subchannelId":5,"externalTicketId":"ext-123","status":"open","triggerAiProcessing":true}`,
		// v3: outbound with agent and AI agent, triggeredBy, unknown nested fields.
		`{"routing":"none","direction":"out","to":"+491234567890","agentId":1,"aiAgentId":456,"triggeredBy":1,"channelId":"v3-call","future":{"deep":[{"x":[1,2,{"y":null}]}]}}`,
	}
	for i, b := range bodies {
		if a := e.call(b); a.code != 200 {
			t.Errorf("generation %d: %d %s", i+1, a.code, a.raw)
		}
	}
}

func TestCallReceivedInboundTicket(t *testing.T) {
	e := newEnv(t)
	a := e.call(`{"routing":"external","userId":42,"phone":"0171 1234567","callerName":"Erika Mustermann","subchannelId":5,
		"externalTicketId":"ext-9","aiAgentId":77,"channelId":"in-1","transcript":[
		{"speaker":"customer","message":"Hallo","timestamp":"2024-01-23T14:32:11Z"},
		{"speaker":"bot","message":"Wie kann ich helfen?"},
		{"speaker":"agent_request","message":"{\"tool\":\"lookup\"}"},
		{"speaker":"agent_response","message":"{\"ok\":true}"}]}`)
	if a.code != 200 {
		t.Fatalf("%d %s", a.code, a.raw)
	}
	if !strings.Contains(a.str("ioResponse"), "assigned to user 42") {
		t.Errorf("ioResponse %q does not say the ticket was assigned", a.str("ioResponse"))
	}
	tk, _ := e.ticket(a.num("ticketId"))
	want := map[string]any{"from": "0171 1234567", "fromName": "Erika Mustermann", "direction": "in", "channelId": "in-1", "externalTicketId": "ext-9"}
	for k, v := range want {
		if tk[k] != v {
			t.Errorf("ticket %s = %v, want %v", k, tk[k], v)
		}
	}
	if num(tk["agentId"]) != 42 || num(tk["subchannelId"]) != 5 {
		t.Errorf("agentId %v subchannelId %v", tk["agentId"], tk["subchannelId"])
	}
	if _, ok := tk["aiAgentId"]; ok {
		t.Errorf("aiAgentId must be ignored inbound, ticket has %v", tk["aiAgentId"])
	}
	conv := tk["conversation"].([]any)
	wantConv := [][3]string{{"in", "text", "customer"}, {"out", "text", "agent"}, {"internal", "agent_request", "agent_request"}, {"internal", "agent_response", "agent_response"}}
	if len(conv) != len(wantConv) {
		t.Fatalf("conversation has %d entries", len(conv))
	}
	for i, w := range wantConv {
		m := conv[i].(map[string]any)
		if m["direction"] != w[0] || m["type"] != w[1] || m["speaker"] != w[2] {
			t.Errorf("conversation[%d] = %v, want %v", i, m, w)
		}
	}
	if conv[0].(map[string]any)["timestamp"] != "2024-01-23T14:32:11Z" {
		t.Errorf("timestamp lost: %v", conv[0])
	}
	p, err := e.store.Presence(42)
	if err != nil || p.CallRoutingStatus != "interacting" {
		t.Errorf("external userId hand-over: presence %+v, %v", p, err)
	}
}

func TestCallReceivedOutbound(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name            string
		body            string
		human           int64
		wantInteracting bool
		queueStatus     string
		assignedInQueue int64
	}{
		{"agent on the line", `{"direction":"out","to":"+4930111","agentId":11}`, 11, true, "currentlyProcessed", 11},
		{"userId as initiator", `{"direction":"out","to":"+4930111","userId":12}`, 12, true, "currentlyProcessed", 12},
		{"voicebot with human recorded", `{"direction":"out","to":"+4930111","agentId":13,"aiAgentId":456}`, 13, false, "unknown", 0},
		{"bot only", `{"direction":"out","to":"+4930111","aiAgentId":456}`, 0, false, "unknown", 0},
		{"autonomous, triggeredBy only", `{"direction":"out","to":"+4930111","triggeredBy":14}`, 0, false, "unknown", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.call(tc.body)
			if a.code != 200 {
				t.Fatalf("%d %s", a.code, a.raw)
			}
			if _, ok := a.body["queueId"]; ok {
				t.Errorf("queueId is only returned for native routing: %s", a.raw)
			}
			tk, q := e.ticket(a.num("ticketId"))
			if tk["direction"] != "out" || tk["to"] != "+4930111" {
				t.Errorf("ticket direction %v to %v", tk["direction"], tk["to"])
			}
			if num(orZero(tk["agentId"])) != tc.human {
				t.Errorf("assignee %v, want %d", tk["agentId"], tc.human)
			}
			if q == nil || q["status"] != tc.queueStatus || num(orZero(q["assignedUserId"])) != tc.assignedInQueue {
				t.Errorf("queue entry %v, want status %s assigned %d", q, tc.queueStatus, tc.assignedInQueue)
			}
			for _, uid := range []int64{11, 12, 13, 14} {
				p, _ := e.store.Presence(uid)
				isMe := uid == tc.human
				if isMe && tc.wantInteracting && p.CallRoutingStatus != "interacting" {
					t.Errorf("user %d presence %s, want interacting", uid, p.CallRoutingStatus)
				}
				if isMe && !tc.wantInteracting && p.CallRoutingStatus == "interacting" && uid == 13 {
					t.Errorf("user %d set interacting although a voicebot conducts the call", uid)
				}
			}
			if strings.Contains(tc.body, "triggeredBy") {
				ev := tk["events"].([]any)[0].(map[string]any)
				if ev["type"] != "ticketCreated" || num(ev["data"].(map[string]any)["triggeredBy"]) != 14 {
					t.Errorf("triggeredBy not in ticketCreated event: %v", ev)
				}
				if p, _ := e.store.Presence(14); p.CallRoutingStatus != "offline" {
					t.Errorf("triggeredBy changed presence: %s", p.CallRoutingStatus)
				}
			}
		})
	}
}

var jsonZero any = json.Number("0")

func orZero(v any) any {
	if v == nil {
		return jsonZero
	}
	return v
}

func TestCallReceivedIdempotentUnderConcurrency(t *testing.T) {
	e := newEnv(t)
	body := `{"routing":"native","channelId":"same-call","phone":"+49301234"}`
	const n = 50
	ids := make([]int64, n)
	queues := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := e.call(body)
			if a.code != 200 {
				t.Errorf("repeat %d: %d %s", i, a.code, a.raw)
			}
			ids[i], queues[i] = a.num("ticketId"), a.num("queueId")
		}()
	}
	wg.Wait()
	for i := range n {
		if ids[i] != ids[0] || queues[i] != queues[0] || ids[0] == 0 {
			t.Fatalf("answer %d: ticket %d queue %d, first: ticket %d queue %d", i, ids[i], queues[i], ids[0], queues[0])
		}
	}
	if c, _ := e.store.TicketCount(); c != 1 {
		t.Fatalf("%d tickets for one channelId, want 1", c)
	}
	if st, _ := e.store.OutboxStatus(); st.Pending != 1 {
		t.Fatalf("%d outbox records for one channelId, want 1", st.Pending)
	}
	// A different call afterwards still gets a new ticket.
	if a := e.call(`{"channelId":"other-call"}`); a.num("ticketId") == ids[0] {
		t.Fatal("a new channelId got the old ticket")
	}
}

func TestCallReceivedGeneratesChannelIDForUpstream(t *testing.T) {
	e := newEnv(t)
	a := e.call(`{"phone":"+49301"}`)
	tk, _ := e.ticket(a.num("ticketId"))
	want := fmt.Sprintf("edge-%d", a.num("ticketId"))
	if tk["channelId"] != want || tk["channelIdGenerated"] != true {
		t.Fatalf("channelId %v (generated %v), want %s", tk["channelId"], tk["channelIdGenerated"], want)
	}
	recs, err := e.store.Outbox(10)
	if err != nil || len(recs) != 1 || !strings.Contains(string(recs[0].Body), want) {
		t.Fatalf("outbox %v %v: want the upstream copy to carry %s", recs, err, want)
	}
}

func TestTicketIDsAreSiteSpecific(t *testing.T) {
	e := newEnv(t) // site 7
	a, b := e.call(`{}`), e.call(`{}`)
	first, second := a.num("ticketId"), b.num("ticketId")
	if first != 1_000_700_000_000_001 || second != first+1 {
		t.Fatalf("ticket IDs %d, %d; want 1000700000000001 and the next", first, second)
	}
	if first >= 1<<53 {
		t.Fatal("ticket ID not exact in JavaScript")
	}
}
