package server

import (
	"bytes"
	"context"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/enneo-edge/enneo-edge/clock"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/routing"
)

// Timers of the flow tests: calls on line 5 need skill 46.
var testRouting = routing.Config{RingTimeout: 20 * time.Second, MaxWait: 10 * time.Minute, ACW: 30 * time.Second,
	DefaultHandleTime: time.Minute, SubchannelTags: map[int64]int64{5: 46, 6: 47}}

// newFlowEnv is a server whose store runs on a test clock.
func newFlowEnv(t *testing.T) (*env, *clock.Manual) {
	t.Helper()
	clk := clock.NewManual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	return newEnvWith(t, db.Options{SiteID: 7, Clock: clk, Routing: testRouting}), clk
}

func (e *env) presence(user int64, body string) answer {
	e.t.Helper()
	return e.do("PATCH", "/api/mind/profile/"+itoa(user)+"/routingStatus", body)
}

// setStatus sets an agent's call status and fails the test unless it works.
func (e *env) setStatus(user int64, status string) {
	e.t.Helper()
	if a := e.presence(user, `{"callRoutingStatus":"`+status+`"}`); a.code != 200 {
		e.t.Fatalf("set %d %s: %d %s", user, status, a.code, a.raw)
	}
}

// loginAgent puts an agent online but not routable, so native calls wait.
func (e *env) loginAgent(user int64) { e.setStatus(user, "unavailable") }

func (e *env) putAgent(user int64, body string) answer {
	e.t.Helper()
	return e.do("PUT", "/edge/v1/agents/"+itoa(user), body)
}

func (e *env) routing(query string) answer {
	e.t.Helper()
	return e.do("GET", "/api/mind/telephony/getRouting?"+query, "")
}

// entry polls getRouting for a ticket and fails unless it answers 200.
func (e *env) entry(ticket int64) answer {
	e.t.Helper()
	a := e.routing("ticketId=" + itoa(ticket))
	if a.code != 200 {
		e.t.Fatalf("getRouting %d: %d %s", ticket, a.code, a.raw)
	}
	return a
}

func (e *env) connected(body string) answer {
	e.t.Helper()
	return e.do("POST", "/api/mind/telephony/agentConnected", body)
}

func (e *env) completed(body string) answer {
	e.t.Helper()
	return e.do("POST", "/api/mind/telephony/callCompleted", body)
}

// expire applies due timers as the background loop would.
func (e *env) expire() int {
	e.t.Helper()
	n, err := e.store.ExpireDue(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) callStatus(user int64) string {
	e.t.Helper()
	p, err := e.store.Presence(user)
	if err != nil {
		e.t.Fatal(err)
	}
	return p.CallRoutingStatus
}

// nativeCall starts a routing=native call and returns its ticket ID.
func (e *env) nativeCall(channel string, line int) int64 {
	e.t.Helper()
	body := `{"routing":"native","channelId":"` + channel + `"`
	if line != 0 {
		body += `,"subchannelId":` + itoa(int64(line))
	}
	a := e.call(body + `}`)
	if a.code != 200 {
		e.t.Fatalf("callReceived: %d %s", a.code, a.raw)
	}
	return a.num("ticketId")
}

func (a answer) obj(key string) map[string]any {
	v, _ := a.body[key].(map[string]any)
	return v
}

func ids(v any) []int64 {
	out := []int64{}
	list, _ := v.([]any)
	for _, x := range list {
		out = append(out, num(x))
	}
	return out
}

// eventTypes lists a ticket's events as type or type:detail.
func eventTypes(tk map[string]any) []string {
	out := []string{}
	for _, ev := range tk["events"].([]any) {
		m := ev.(map[string]any)
		s := m["type"].(string)
		if d, ok := m["data"].(map[string]any); ok {
			switch s {
			case "queueStatusChanged":
				s += ":" + d["to"].(string)
			case "presenceChanged":
				s += ":" + d["to"].(string) + "/" + d["cause"].(string)
			}
		}
		out = append(out, s)
	}
	return out
}

func outboxKinds(t *testing.T, s *db.Store) (kinds []string, bodies []map[string]any) {
	t.Helper()
	recs, err := s.Outbox(1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		var b map[string]any
		dec := json.NewDecoder(bytes.NewReader(r.Body))
		dec.UseNumber()
		if err := dec.Decode(&b); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, r.Kind)
		bodies = append(bodies, b)
	}
	return kinds, bodies
}
