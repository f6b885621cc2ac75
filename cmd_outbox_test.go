package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enneo-edge/enneo-edge/config"
	"github.com/enneo-edge/enneo-edge/internal/testcert"
)

func TestLocalURL(t *testing.T) {
	tests := []struct {
		listen, want, err string
		tls               bool
	}{
		{"127.0.0.1:8005", "http://127.0.0.1:8005", "", false},
		{":8005", "http://127.0.0.1:8005", "", false},
		{"0.0.0.0:9000", "http://127.0.0.1:9000", "", false},
		{"[::]:9000", "http://127.0.0.1:9000", "", false},
		{"[::1]:9000", "http://[::1]:9000", "", false},
		{"10.1.2.3:80", "http://10.1.2.3:80", "", false},
		{":8443", "https://127.0.0.1:8443", "", true},
		{"[::1]:8443", "https://[::1]:8443", "", true},
		{"127.0.0.1:0", "", "picks a random port: pass -url", false},
		{"localhost", "", `server.listen "localhost"`, false},
	}
	for _, tc := range tests {
		cfg := config.Default()
		cfg.Server.Listen = tc.listen
		if tc.tls {
			cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile = "cert.pem", "key.pem"
		}
		got, err := localURL(cfg)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("localURL(%q): error %v, want %q", tc.listen, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("localURL(%q, tls %v) = %q, %v; want %q", tc.listen, tc.tls, got, err, tc.want)
		}
	}
}

func TestRunOutboxRefusesBadArguments(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-url", "http://127.0.0.1:1", "-token", "t", "frobnicate"}, `unknown or incomplete subcommand "frobnicate"`},
		{[]string{"-url", "http://127.0.0.1:1", "-token", "t", "retry"}, `unknown or incomplete subcommand "retry"`},
		{[]string{"-url", "http://127.0.0.1:1", "-token", "t", "retry", "x"}, `retry: SEQ must be a positive integer, got "x"`},
		{[]string{"-url", "http://127.0.0.1:1", "-token", "t", "list"}, "is enneo-edge running?"},
	}
	t.Setenv("ENNEO_EDGE_TOKEN", "")
	for _, tc := range tests {
		err := runOutbox(append([]string{"-config", ""}, tc.args...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("outbox %v: %v, want %q", tc.args, err, tc.want)
		}
	}
	if err := runOutbox([]string{"-config", "", "-url", "http://127.0.0.1:1", "list"}); err == nil || !strings.Contains(err.Error(), "no API token") {
		t.Errorf("without a token: %v", err)
	}
}

// TestRunOutboxReachesATLSServer: with server.tls_cert_file set the server
// speaks only HTTPS, so the outbox command must too (and trust the
// appliance's own certificate), as backup does.
func TestRunOutboxReachesATLSServer(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := testcert.Write(t, dir, 1)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	const token = "outbox-tls-test-token"
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/edge/v1/outbox" || r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, `{"success":false,"error":"unexpected request"}`, http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte(`{"success":true,"outbox":{"pending":0},"forwarder":null,"head":[],"deadLetters":[]}`))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	cfg := filepath.Join(dir, "edge.toml")
	toml := fmt.Sprintf("[server]\nlisten = %q\ntls_cert_file = %q\ntls_key_file = %q\n[auth]\ntokens = [%q]\n",
		srv.Listener.Addr().String(), certFile, keyFile, token)
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ENNEO_EDGE_TOKEN", "")
	if err := runOutbox([]string{"-config", cfg, "-json", "list"}); err != nil {
		t.Fatalf("outbox list against the TLS server: %v", err)
	}
}

// An air-gapped site's outbox is what it keeps, not a backlog.
func TestOutboxListAirGappedSaysKeptLocally(t *testing.T) {
	var b strings.Builder
	err := writeOutbox(&b, []byte(`{"success":true,"outbox":{"pending":11716,"oldestPendingAgeSeconds":502},"forwarder":null,"head":[],"deadLetters":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "records:      11716, air-gapped: kept locally (oldest 8m22s)") || strings.Contains(b.String(), "pending") {
		t.Errorf("air-gapped outbox:\n%s", b.String())
	}
	b.Reset()
	err = writeOutbox(&b, []byte(`{"success":true,"outbox":{"pending":3,"oldestPendingAgeSeconds":5},"forwarder":{"workers":4},"head":[],"deadLetters":[]}`))
	if err != nil || !strings.HasPrefix(b.String(), "pending:      3 (oldest 5s)") {
		t.Errorf("forwarding outbox (%v):\n%s", err, b.String())
	}
}
