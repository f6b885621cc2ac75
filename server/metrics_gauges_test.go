package server

import (
	"context"
	"regexp"
	"strconv"
	"testing"

	"github.com/enneo-edge/enneo-edge/model"
)

// sampleValue is the value of one series on a scrape, or fails the test.
func sampleValue(t *testing.T, text, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no %s on /metrics:\n%s", series, text)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", series, err)
	}
	return v
}

// The cap the server was given is on /metrics, so the 80 % alert and the
// dashboard read it instead of a number copied from the config; no cap is 0.
func TestMetricsStorageCap(t *testing.T) {
	const maxSize = 64 << 20
	e := newOpsEnv(t, opsConfig{maxSize: maxSize, srvOpts: []Option{WithStorageCap(maxSize)}})
	text := e.scrape()
	if got := sampleValue(t, text, "edge_db_max_size_bytes"); got != maxSize {
		t.Errorf("edge_db_max_size_bytes = %v, want %d", got, maxSize)
	}
	if size := sampleValue(t, text, "edge_db_size_bytes"); size <= 0 || size > maxSize {
		t.Errorf("edge_db_size_bytes = %v, want in (0, %d]", size, maxSize)
	}

	if got := sampleValue(t, newEnv(t).scrape(), "edge_db_max_size_bytes"); got != 0 {
		t.Errorf("uncapped: edge_db_max_size_bytes = %v, want 0", got)
	}
}

// edge_agents counts every agent the edge knows by call routing status:
// configured ones never seen are offline, a presence without a configured
// agent counts too, and every status has a series, 0 included. A change
// of presence shows on the next scrape.
func TestMetricsAgentsByPresence(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	want := map[string]float64{}
	for _, st := range model.Presences {
		want[st] = 0
	}
	check := func(when string) {
		t.Helper()
		text := e.scrape()
		for st, n := range want {
			if got := sampleValue(t, text, `edge_agents{status="`+st+`"}`); got != n {
				t.Errorf("%s: edge_agents{status=%q} = %v, want %v", when, st, got, n)
			}
		}
	}
	check("empty")

	for id := int64(1); id <= 4; id++ {
		if _, err := e.store.PutAgent(ctx, model.Agent{ID: id, Name: "agent " + strconv.FormatInt(id, 10)}); err != nil {
			t.Fatal(err)
		}
	}
	set := func(user int64, status string) {
		t.Helper()
		if _, err := e.store.SetRoutingStatus(ctx, user, model.RoutingStatusChange{CallRoutingStatus: status}); err != nil {
			t.Fatalf("user %d %s: %v", user, status, err)
		}
	}
	set(2, model.PresenceIdle)
	set(3, model.PresenceIdle)
	set(4, model.PresenceUnavailable)
	set(9, model.PresenceNotResponding) // a presence, no configured agent
	want[model.PresenceOffline] = 1     // agent 1, never seen
	want[model.PresenceIdle] = 2
	want[model.PresenceUnavailable] = 1
	want[model.PresenceNotResponding] = 1
	check("after presence")

	set(3, model.PresenceOffline)
	want[model.PresenceIdle], want[model.PresenceOffline] = 1, 2
	check("after agent 3 went offline")
}
