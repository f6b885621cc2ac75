// Package central runs the real enneo-edge binary against a fake central
// enneo of the test's own (internal/fakecentral) and checks that central's
// picture is exactly what happened at the edge: no call routed twice, one
// ticket per acknowledged call, every follow-up applied once and in order,
// presence equal, also across SIGKILLs and ambiguous answers.
package central

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/edgetest"
	"github.com/enneo-edge/enneo-edge/internal/fakecentral"
)

const (
	edgeToken    = "central-test-edge-token-0123456789"
	centralToken = "central-test-central-token-0123456789"
)

var binary string

func TestMain(m *testing.M) { edgetest.Main(m, "../..", &binary) }

// edge is one enneo-edge process with its config, restartable on the same
// port and database.
type edge struct {
	*edgetest.Proc
	cfg string
}

// edgeConfig writes a config forwarding to url on a port of its own (kept
// across restarts); extra is appended to [upstream] as is (more keys, then
// more sections).
func edgeConfig(t *testing.T, dir, url, extra string) string {
	t.Helper()
	return edgetest.WriteConfig(t, filepath.Join(dir, "enneo-edge.toml"), edgetest.Config{
		Listen: edgetest.FreeAddr(t),
		DB:     filepath.Join(dir, "edge.db"),
		Site:   3,
		Token:  edgeToken,
		Upstream: &edgetest.Upstream{
			URL: url, Token: centralToken, Workers: 32, Timeout: "300ms",
			BackoffMin: "5ms", BackoffMax: "200ms", PausedRetry: "100ms",
			Extra: extra,
		},
	})
}

func startEdge(t *testing.T, cfg string) *edge {
	t.Helper()
	return &edge{Proc: edgetest.Start(t, binary, cfg), cfg: cfg}
}

// restart runs the edge again on the same config after it exited.
func (e *edge) restart(t *testing.T) {
	t.Helper()
	e.Proc = edgetest.Start(t, binary, e.cfg)
}

// send sends a request to the edge at base until it answers (no transport
// error, no 503), as a PBX retries across a restart, and reports an error
// unless the answer is 200. When 60 s pass without an answer it reports
// with giveUp and returns the last answer: t.Fatalf on the test's own
// goroutine, t.Errorf on a PBX worker's.
func send(t testing.TB, giveUp func(string, ...any), client *http.Client, base, method, path, body string) edgetest.Answer {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		a, err := edgetest.Do(client, base, edgeToken, method, path, body)
		if err == nil && a.Code != http.StatusServiceUnavailable {
			if a.Code != http.StatusOK {
				t.Errorf("%s %s %s: %d %s", method, path, body, a.Code, a.Raw)
			}
			return a
		}
		if time.Now().After(deadline) {
			giveUp("%s %s: no answer for 60 s: %v", method, path, err)
			return a
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// must is send on the test's goroutine: it fails the test at once when the
// edge does not answer.
func (e *edge) must(t *testing.T, client *http.Client, method, path, body string) edgetest.Answer {
	t.Helper()
	return send(t, t.Fatalf, client, e.URL, method, path, body)
}

func (e *edge) get(t *testing.T, path string, v any) {
	t.Helper()
	a := e.must(t, http.DefaultClient, http.MethodGet, path, "")
	if err := json.Unmarshal(a.Raw, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, a.Raw)
	}
}

func (e *edge) outbox(t *testing.T) edgetest.Outbox {
	t.Helper()
	var v edgetest.Outbox
	e.get(t, "/edge/v1/outbox", &v)
	return v
}

// num reads an integer of a decoded answer.
func num(v any) int64 { return fakecentral.Num(v) }

func (e *edge) waitDrained(t *testing.T, limit time.Duration) edgetest.Outbox {
	t.Helper()
	return edgetest.WaitDrained(t, limit, func() edgetest.Outbox { return e.outbox(t) })
}
