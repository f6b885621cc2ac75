package server

import (
	"context"
	"strings"
	"testing"

	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/upstream"
)

type fakeForwarder struct{ st upstream.Status }

func (f fakeForwarder) Status() upstream.Status { return f.st }

func TestOutboxRoutes(t *testing.T) {
	e := newEnv(t)
	for _, ch := range []string{"ob-1", "ob-2"} {
		if a := e.call(`{"routing":"native","channelId":"` + ch + `"}`); a.code != 200 {
			t.Fatalf("call: %d %s", a.code, a.raw)
		}
	}
	ctx := context.Background()
	if err := e.store.DeadLetter(ctx, 1, db.DeadReason{Status: 422, Reason: "central answered 422: phone: invalid", Response: `{"error":"phone"}`}); err != nil {
		t.Fatal(err)
	}

	a := e.do("GET", "/edge/v1/outbox", "")
	if a.code != 200 || a.body["forwarder"] != nil {
		t.Fatalf("outbox: %d %s", a.code, a.raw)
	}
	ob := a.body["outbox"].(map[string]any)
	if num(ob["pending"]) != 1 || num(ob["deadLetters"]) != 1 || ob["paused"] != nil {
		t.Fatalf("outbox status %s", a.raw)
	}
	dead := a.body["deadLetters"].([]any)
	if len(dead) != 1 || !strings.Contains(dead[0].(map[string]any)["reason"].(string), "phone: invalid") {
		t.Fatalf("dead letters %s", a.raw)
	}

	if err := e.store.SetPaused(ctx, &db.PauseState{Status: 401, Reason: "central answered 401: token expired"}); err != nil {
		t.Fatal(err)
	}
	if a := e.do("GET", "/edge/v1/outbox", ""); !strings.Contains(a.raw, `"paused":{`) || !strings.Contains(a.raw, "token expired") {
		t.Fatalf("paused not shown: %s", a.raw)
	}

	tests := []struct {
		name, method, path string
		code               int
		want               string
	}{
		{"list", "GET", "/edge/v1/outbox/dead?limit=5", 200, `"total":1`},
		{"list bad limit", "GET", "/edge/v1/outbox/dead?limit=0", 400, "limit: must be an integer between 1 and 10000"},
		{"retry bad seq", "POST", "/edge/v1/outbox/dead/x/retry", 400, "seq: must be a positive integer"},
		{"retry unknown", "POST", "/edge/v1/outbox/dead/99/retry", 404, "dead letter 99: not found"},
		{"retry one", "POST", "/edge/v1/outbox/dead/1/retry", 200, `"requeued":1`},
		{"retry again", "POST", "/edge/v1/outbox/dead/1/retry", 404, "dead letter 1: not found"},
		{"retry all, none left", "POST", "/edge/v1/outbox/dead/retry", 200, `"requeued":0`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(tc.method, tc.path, "")
			if a.code != tc.code || !strings.Contains(a.raw, tc.want) {
				t.Fatalf("%s %s = %d %s, want %d with %q", tc.method, tc.path, a.code, a.raw, tc.code, tc.want)
			}
		})
	}
	if st, _ := e.store.OutboxStatus(); st.Pending != 2 || st.DeadLetters != 0 {
		t.Fatalf("after retry: %+v", st)
	}
	if a := e.do("GET", "/edge/v1/outbox/dead", "", "Authorization", "Bearer wrong-token-0123456789"); a.code != 401 {
		t.Fatalf("dead letters without auth: %d", a.code)
	}
}

func TestOutboxShowsForwarder(t *testing.T) {
	e := newEnv(t)
	e.srv.SetForwarder(fakeForwarder{upstream.Status{Workers: 4, InFlight: 2, Paused: true, PausedReason: "central answered 403"}})
	a := e.do("GET", "/edge/v1/outbox", "")
	fw, _ := a.body["forwarder"].(map[string]any)
	if fw == nil || num(fw["inFlight"]) != 2 || fw["paused"] != true || fw["pausedReason"] != "central answered 403" {
		t.Fatalf("forwarder status: %s", a.raw)
	}
}
