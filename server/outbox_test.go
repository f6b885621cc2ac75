package server

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/upstream"
)

type fakeForwarder struct {
	st      upstream.Status
	retries *atomic.Int32
}

func (f fakeForwarder) Status() upstream.Status   { return f.st }
func (f fakeForwarder) StuckAfter() time.Duration { return time.Nanosecond }
func (f fakeForwarder) InFlight(seq uint64) bool  { return seq == 77 }
func (f fakeForwarder) RetryNow() {
	if f.retries != nil {
		f.retries.Add(1)
	}
}

// TestStuckRecords: a record central keeps failing is listed as stuck with
// its last answer; an operator can have it tried now or dead-letter it, and
// the ticket's later records then park behind it.
func TestStuckRecords(t *testing.T) {
	e := newEnv(t)
	if a := e.call(`{"routing":"native","channelId":"stuck-1"}`); a.code != 200 {
		t.Fatalf("call: %d %s", a.code, a.raw)
	}
	if a := e.completed(`{"channelId":"stuck-1","transcript":[]}`); a.code != 200 {
		t.Fatalf("callCompleted: %d %s", a.code, a.raw)
	}
	var retries atomic.Int32
	e.srv.SetForwarder(fakeForwarder{retries: &retries})
	if a := e.do("GET", "/edge/v1/outbox", ""); num(a.body["stuckTotal"]) != 0 {
		t.Fatalf("stuck before any failure: %s", a.raw)
	}
	ctx := context.Background()
	if _, err := e.store.RecordFailure(ctx, 1, db.Failure{Status: 503, Msg: "central answered 503: maintenance", Ambiguous: true}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	a := e.do("GET", "/edge/v1/outbox", "")
	stuck, _ := a.body["stuck"].([]any)
	if num(a.body["stuckTotal"]) != 1 || len(stuck) != 1 || !strings.Contains(a.raw, "central answered 503: maintenance") {
		t.Fatalf("stuck record not shown: %s", a.raw)
	}
	tests := []struct {
		name, path string
		code       int
		want       string
	}{
		{"retry bad seq", "/edge/v1/outbox/x/retry", 400, "seq: must be a positive integer"},
		{"retry unknown", "/edge/v1/outbox/99/retry", 404, "outbox record 99 is not pending"},
		{"retry now", "/edge/v1/outbox/1/retry", 200, `"retrying":1`},
		{"dead-letter unknown", "/edge/v1/outbox/99/dead-letter", 404, "outbox record 99 is not pending"},
		{"dead-letter", "/edge/v1/outbox/1/dead-letter", 200, `"deadLettered":1`},
		{"dead-letter again", "/edge/v1/outbox/1/dead-letter", 404, "outbox record 1 is not pending"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do("POST", tc.path, "")
			if a.code != tc.code || !strings.Contains(a.raw, tc.want) {
				t.Fatalf("POST %s = %d %s, want %d with %q", tc.path, a.code, a.raw, tc.code, tc.want)
			}
		})
	}
	if retries.Load() != 1 {
		t.Errorf("RetryNow called %d times", retries.Load())
	}
	dead, _, err := e.store.DeadLetters(10)
	if err != nil || len(dead) != 2 || dead[0].Seq != 1 || dead[0].Status != 503 ||
		!strings.Contains(dead[0].Reason, "by an operator; last answer: central answered 503") || !dead[1].Parked {
		t.Fatalf("dead letters after the operator gave up: %+v (%v)", dead, err)
	}
	if a := e.do("POST", "/edge/v1/outbox/1/dead-letter", "", "Authorization", "Bearer wrong-token-0123456789"); a.code != 401 {
		t.Fatalf("dead-letter without auth: %d", a.code)
	}
}

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
	e.srv.SetForwarder(fakeForwarder{st: upstream.Status{Workers: 4, InFlight: 2, Paused: true, PausedReason: "central answered 403"}})
	a := e.do("GET", "/edge/v1/outbox", "")
	fw, _ := a.body["forwarder"].(map[string]any)
	if fw == nil || num(fw["inFlight"]) != 2 || fw["paused"] != true || fw["pausedReason"] != "central answered 403" {
		t.Fatalf("forwarder status: %s", a.raw)
	}
}
