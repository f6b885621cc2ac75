// Package central runs the real enneo-edge binary against a fake central
// enneo of the test's own (internal/fakecentral) and checks that central's
// picture is exactly what happened at the edge: no call routed twice, one
// ticket per acknowledged call, every follow-up applied once and in order,
// presence equal, also across SIGKILLs and ambiguous answers.
package central

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
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

// edgeConfig writes a config forwarding to url; extra is appended as is.
func edgeConfig(t *testing.T, dir, url, extra string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := fmt.Sprintf(`[server]
listen = %q
[storage]
path = %q
[site]
id = 3
[auth]
tokens = [%q]
[upstream]
url = %q
token = %q
workers = 32
timeout = "300ms"
backoff_min = "5ms"
backoff_max = "200ms"
paused_retry = "100ms"
%s`, addr, filepath.Join(dir, "edge.db"), edgeToken, url, centralToken, extra)
	path := filepath.Join(dir, "enneo-edge.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
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

// answer is one reply of the edge.
type answer struct {
	code int
	raw  []byte
	body map[string]any
}

// do sends one request to the edge; err is a transport error.
func do(client *http.Client, base, method, path, body string) (answer, error) {
	req, err := http.NewRequest(method, base+path, bytes.NewBufferString(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+edgeToken)
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{code: resp.StatusCode, raw: raw}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&a.body)
	return a, nil
}

// must sends a request until the edge answers, as a PBX retries across a
// restart, and fails the test unless the answer is 200.
func (e *edge) must(t *testing.T, client *http.Client, method, path, body string) answer {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		a, err := do(client, e.URL, method, path, body)
		if err == nil && a.code != http.StatusServiceUnavailable {
			if a.code != http.StatusOK {
				t.Errorf("%s %s %s: %d %s", method, path, body, a.code, a.raw)
			}
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: no answer for 60 s: %v", method, path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *edge) get(t *testing.T, path string, v any) {
	t.Helper()
	a := e.must(t, http.DefaultClient, http.MethodGet, path, "")
	if err := json.Unmarshal(a.raw, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, a.raw)
	}
}

// outbox is the part of GET /edge/v1/outbox the tests read.
type outbox struct {
	Outbox struct {
		Pending     int64 `json:"pending"`
		DeadLetters int64 `json:"deadLetters"`
		Stuck       int64 `json:"stuck"`
	} `json:"outbox"`
	Forwarder *struct {
		InFlight int   `json:"inFlight"`
		Lookups  int64 `json:"lookups"`
		Found    int64 `json:"lookupsFound"`
	} `json:"forwarder"`
	DeadLetters []json.RawMessage `json:"deadLetters"`
	Stuck       []struct {
		Seq       uint64 `json:"seq"`
		LastError string `json:"lastError"`
	} `json:"stuck"`
}

func (e *edge) outbox(t *testing.T) outbox {
	t.Helper()
	var v outbox
	e.get(t, "/edge/v1/outbox", &v)
	return v
}

// num reads an integer of a decoded answer.
func num(v any) int64 { return fakecentral.Num(v) }

func (e *edge) waitDrained(t *testing.T, limit time.Duration) outbox {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		v := e.outbox(t)
		if v.Outbox.Pending == 0 && (v.Forwarder == nil || v.Forwarder.InFlight == 0) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox not drained after %s: %+v", limit, v.Outbox)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
