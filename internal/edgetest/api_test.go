package edgetest

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/enneo-edge/enneo-edge/config"
)

// TestDoKeepsStatusAndNumbers: any status is an answer (not an error),
// the token goes as bearer, IDs stay exact (json.Number), and a body that
// is not a JSON object leaves Body nil with Raw intact.
func TestDoKeepsStatusAndNumbers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/bad" {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not json"))
			return
		}
		_, _ = w.Write([]byte(`{"ticketId":9007199254740993}`))
	}))
	defer srv.Close()
	a, err := Do(srv.Client(), srv.URL, "tok", "GET", "/ok", "")
	if err != nil || a.Code != 200 || a.Body["ticketId"] != json.Number("9007199254740993") {
		t.Fatalf("ok: %v %+v", err, a)
	}
	a, err = Do(srv.Client(), srv.URL, "tok", "GET", "/bad", "")
	if err != nil || a.Code != 503 || a.Body != nil || string(a.Raw) != "not json" {
		t.Fatalf("bad: %v %+v", err, a)
	}
	if a, err = Do(srv.Client(), srv.URL, "other", "GET", "/ok", ""); err != nil || a.Code != 401 {
		t.Fatalf("wrong token: %v %+v", err, a)
	}
	srv.Close()
	if _, err := Do(srv.Client(), srv.URL, "tok", "GET", "/ok", ""); err == nil {
		t.Fatal("no error from a closed server")
	}
}

// TestConfigUpstreamOptional: an air-gapped config has no [upstream]
// section; one with an upstream has it with its extra keys before the
// config's extra sections, and enneo-edge loads it as written.
func TestConfigUpstreamOptional(t *testing.T) {
	c := Config{Listen: "127.0.0.1:0", DB: "/d/edge.db", Site: 3, Token: "t", Extra: "[routing]\n"}
	if s := c.TOML(); strings.Contains(s, "[upstream]") || !strings.HasSuffix(s, "tokens = [\"t\"]\n[routing]\n") {
		t.Fatalf("air-gapped:\n%s", s)
	}
	c.Upstream = &Upstream{URL: "http://u", Token: "u", Workers: 2, Timeout: "1s", BackoffMin: "1ms", BackoffMax: "2ms", PausedRetry: "3ms", Extra: "max_attempts = 3\n"}
	s := c.TOML()
	for _, want := range []string{"[upstream]\nurl = \"http://u\"\n", "workers = 2\n", "paused_retry = \"3ms\"\nmax_attempts = 3\n[routing]\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in:\n%s", want, s)
		}
	}
	c.Upstream.URL, c.Extra = "http://u/api/mind", ""
	c.Token, c.Upstream.Token = "edge-token-0123456789", "central-token-0123456789"
	got, err := config.Load(WriteConfig(t, filepath.Join(t.TempDir(), "enneo-edge.toml"), c))
	if err != nil {
		t.Fatal(err)
	}
	if got.Upstream.URL != "http://u/api/mind" || got.Upstream.Workers != 2 || got.Site.ID != 3 || got.Server.Listen != "127.0.0.1:0" {
		t.Errorf("loaded %+v", got)
	}
}

// FreeAddr's ports lie below the ephemeral range, where no listener asking
// for port 0 can be handed them between the pick and the process's bind,
// and they are free.
func TestFreeAddrBelowTheEphemeralRange(t *testing.T) {
	for range 20 {
		addr := FreeAddr(t)
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(p)
		if port < freeAddrLow || port >= freeAddrHigh {
			t.Fatalf("port %d outside %d-%d", port, freeAddrLow, freeAddrHigh)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("%s is not free: %v", addr, err)
		}
		_ = ln.Close()
	}
}
