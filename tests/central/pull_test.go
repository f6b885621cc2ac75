package central

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/edgetest"
	"github.com/enneo-edge/enneo-edge/internal/fakecentral"
)

// agentsView is GET /edge/v1/agents as this test reads it.
type agentsView struct {
	Agents []struct {
		ID       int64   `json:"id"`
		Name     string  `json:"name"`
		Skills   []int64 `json:"skillTagIds"`
		Source   string  `json:"source"`
		Presence struct {
			Call string `json:"callRoutingStatus"`
		} `json:"presence"`
	} `json:"agents"`
}

func (e *edge) agent(t *testing.T, id int64) (name string, skills []int64, presence string, ok bool) {
	t.Helper()
	var v agentsView
	e.get(t, "/edge/v1/agents", &v)
	for _, a := range v.Agents {
		if a.ID == id {
			return a.Name, a.Skills, a.Presence.Call, true
		}
	}
	return "", nil, "", false
}

// TestDirectoryFromCentralDrivesRouting: agents with their skills and the
// phone lines with their ring and after-call times come from central, a
// refresh while a call rings breaks none of it, and the last-known copy
// routes after a restart while central is down.
func TestDirectoryFromCentralDrivesRouting(t *testing.T) {
	c := fakecentral.New(t, fakecentral.Options{Token: centralToken})
	// Line 7 needs skill 5 and has 1 s of after-call work (the config's 30 s
	// would fail the wait below); it rings 5 min until the refresh makes it
	// 2 s, which the call ringing then must not feel.
	c.SetDirectory(`{"agents":[{"userId":1,"name":"Ann","skills":[{"id":5}]},{"userId":2,"name":"Bo","skills":[6]}]}`,
		`[{"id":7,"channel":"phone","name":"Hotline","settings":{"acdRingTimeSeconds":300,"acdAcwSeconds":1,"primaryTagId":5}}]`)
	e := startEdge(t, edgeConfig(t, t.TempDir(), c.URL(), "pull_interval = \"1s\"\n[routing]\ntimer_interval = \"100ms\"\n"))
	client := &http.Client{Timeout: 5 * time.Second}
	edgetest.WaitFor(t, "agents pulled from central", 10*time.Second, func() bool {
		name, skills, _, ok := e.agent(t, 1)
		return ok && name == "Ann" && slices.Equal(skills, []int64{5})
	})
	for _, id := range []int{1, 2} {
		e.must(t, client, "PATCH", fmt.Sprintf("/api/mind/profile/%d/routingStatus", id), `{"callRoutingStatus":"idle"}`)
	}
	entry := func(ticket int64) edgetest.Answer {
		return e.must(t, client, "GET", fmt.Sprintf("/api/mind/telephony/getRouting?ticketId=%d", ticket), "")
	}

	a := num(e.must(t, client, "POST", "/api/mind/telephony/callReceived", `{"routing":"native","subchannelId":7,"channelId":"pull-a"}`).Body["ticketId"])
	if q := entry(a); q.Body["status"] != "assigned" || num(q.Body["assignedUserId"]) != 1 || num(q.Body["primaryTagId"]) != 5 {
		t.Fatalf("call on line 7 not offered to the agent with skill 5: %s", q.Raw)
	}
	// A refresh while it rings takes skill 5 from agent 1 and adds agent 3.
	c.SetDirectory(`{"agents":[{"userId":1,"name":"Ann B","skills":[8]},{"userId":2,"name":"Bo","skills":[6]},{"userId":3,"name":"Cy","skills":[5]}]}`,
		`[{"id":7,"channel":"phone","settings":{"acdRingTimeSeconds":2,"acdAcwSeconds":1,"primaryTagId":5}}]`)
	edgetest.WaitFor(t, "the refresh", 10*time.Second, func() bool { _, _, _, ok := e.agent(t, 3); return ok })
	time.Sleep(2500 * time.Millisecond) // past the new ring time
	if q := entry(a); q.Body["status"] != "assigned" || num(q.Body["assignedUserId"]) != 1 {
		t.Fatalf("the refresh broke the ringing call (skills or ring time): %s", q.Raw)
	}
	e.must(t, client, "POST", "/api/mind/telephony/agentConnected", fmt.Sprintf(`{"userId":1,"ticketId":%d}`, a))
	e.must(t, client, "POST", "/api/mind/telephony/callCompleted", `{"channelId":"pull-a","transcript":[]}`)
	edgetest.WaitFor(t, "after-call work of line 7 (1 s) over", 5*time.Second, func() bool { _, _, p, _ := e.agent(t, 1); return p == "idle" })

	// Agent 1 no longer serves skill 5: the next call waits for agent 3
	// (logged in, on a break), who then rings for line 7's 2 s and is
	// notResponding.
	e.must(t, client, "PATCH", "/api/mind/profile/3/routingStatus", `{"callRoutingStatus":"unavailable"}`)
	b := num(e.must(t, client, "POST", "/api/mind/telephony/callReceived", `{"routing":"native","subchannelId":7,"channelId":"pull-b"}`).Body["ticketId"])
	if q := entry(b); q.Body["status"] != "waitingForAgent" {
		t.Fatalf("call routed to an agent without skill 5: %s", q.Raw)
	}
	e.must(t, client, "PATCH", "/api/mind/profile/3/routingStatus", `{"callRoutingStatus":"idle"}`)
	if q := entry(b); num(q.Body["assignedUserId"]) != 3 {
		t.Fatalf("call not offered to agent 3: %s", q.Raw)
	}
	edgetest.WaitFor(t, "line 7's ring time (2 s) over", 6*time.Second, func() bool { _, _, p, _ := e.agent(t, 3); return p == "notResponding" })

	// Central goes away; the edge restarts and routes on the last-known copy.
	c.Close()
	e.Kill(t)
	e.restart(t)
	if name, skills, _, ok := e.agent(t, 3); !ok || name != "Cy" || !slices.Equal(skills, []int64{5}) {
		t.Fatalf("agent 3 after restart without central: %q %v %v", name, skills, ok)
	}
	e.must(t, client, "PATCH", "/api/mind/profile/3/routingStatus", `{"callRoutingStatus":"idle"}`)
	if q := entry(b); q.Body["status"] != "assigned" || num(q.Body["assignedUserId"]) != 3 {
		t.Fatalf("waiting call not offered again from the last-known copy: %s", q.Raw)
	}
	var st struct {
		Upstream struct {
			Directory *struct {
				PulledAt  *time.Time `json:"pulledAt"`
				Agents    int        `json:"agents"`
				LastError string     `json:"lastError"`
			} `json:"directory"`
		} `json:"upstream"`
	}
	edgetest.WaitFor(t, "the failed pull shown", 5*time.Second, func() bool {
		e.get(t, "/edge/v1/status", &st)
		d := st.Upstream.Directory
		return d != nil && d.PulledAt != nil && d.Agents == 3 && d.LastError != ""
	})
}
