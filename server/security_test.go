package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/enneo-edge/enneo-edge/auth"
	"github.com/enneo-edge/enneo-edge/db"
)

const (
	pbxToken     = "pbx-token-Qw3rTy7uIo9pAs2dF"
	adminToken   = "admin-token-Zx8cVb4nM1lKj6hG"
	metricsToken = "metrics-token-Po0iUy5tRe3wQa"
	viewerToken  = "viewer-token-Lk2jHg7fDs9aMn"
)

func withRoles(ao *authOptions, _ *Limits) {
	ao.Scoped = []auth.Token{{Secret: pbxToken, Role: auth.RolePBX}, {Secret: adminToken, Role: auth.RoleAdmin},
		{Secret: metricsToken, Role: auth.RoleMetrics}, {Secret: viewerToken, Role: auth.RoleViewer}}
}

// syncBuffer is a log destination the test reads while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestRouteRoles walks every authenticated route with a credential of each
// role: a role either may use the route (anything but 401/403) or gets 403.
func TestRouteRoles(t *testing.T) {
	e := newEnv(t, withRoles)
	jwtAdmin := signHS256(t, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(), "role": "admin"})
	jwtPlain := signHS256(t, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()})
	creds := []struct {
		name, header string
		role         auth.Role
	}{
		{"pbx", "Bearer " + pbxToken, auth.RolePBX},
		{"admin", "Bearer " + adminToken, auth.RoleAdmin},
		{"metrics", "Bearer " + metricsToken, auth.RoleMetrics},
		{"viewer", "Bearer " + viewerToken, auth.RoleViewer},
		{"legacy token (auth.Tokens)", "Bearer " + testToken, auth.RoleAdmin},
		{"jwt role=admin", "Bearer " + jwtAdmin, auth.RoleAdmin},
		{"jwt without role", "Bearer " + jwtPlain, auth.RolePBX},
	}
	routes := []struct {
		method, path, body string
		need               auth.Role
	}{
		{"POST", "/api/mind/telephony/callReceived", `{"routing":"none","phone":"+491234567890"}`, auth.RolePBX},
		{"GET", "/api/mind/telephony/getRouting?channelId=x", "", auth.RolePBX},
		{"POST", "/api/mind/telephony/agentConnected", `{}`, auth.RolePBX},
		{"POST", "/api/mind/telephony/callCompleted", `{}`, auth.RolePBX},
		{"GET", "/api/mind/telephony/routingAvailability", "", auth.RolePBX},
		{"GET", "/api/mind/settings/subchannel", "", auth.RolePBX},
		{"PATCH", "/api/mind/profile/1/routingStatus", `{}`, auth.RolePBX},
		{"PUT", "/edge/v1/agents/1", `{}`, auth.RoleAdmin},
		{"GET", "/edge/v1/agents", "", auth.RoleAdmin},
		{"PUT", "/edge/v1/customers", ``, auth.RoleAdmin},
		{"GET", "/edge/v1/customers/1", "", auth.RoleAdmin},
		{"DELETE", "/edge/v1/customers/1", "", auth.RoleAdmin},
		{"GET", "/edge/v1/tickets/1", "", auth.RoleAdmin},
		{"GET", "/edge/v1/outbox", "", auth.RoleAdmin},
		{"GET", "/edge/v1/outbox/dead", "", auth.RoleAdmin},
		{"POST", "/edge/v1/outbox/dead/retry", "", auth.RoleAdmin},
		{"POST", "/edge/v1/outbox/dead/1/retry", "", auth.RoleAdmin},
		{"POST", "/edge/v1/outbox/1/retry", "", auth.RoleAdmin},
		{"POST", "/edge/v1/outbox/1/dead-letter", "", auth.RoleAdmin},
		{"GET", "/edge/v1/backup", "", auth.RoleAdmin},
		{"GET", "/edge/v1/status", "", auth.RoleViewer},
		{"GET", "/metrics", "", auth.RoleMetrics},
	}
	for _, r := range routes {
		for _, c := range creds {
			t.Run(r.method+" "+r.path+" as "+c.name, func(t *testing.T) {
				req, _ := http.NewRequest(r.method, e.url+r.path, strings.NewReader(r.body))
				req.Header.Set("Authorization", c.header)
				resp, err := e.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				allowed := c.role.Allows(r.need)
				switch {
				case resp.StatusCode == 401:
					t.Fatalf("401 for a valid credential")
				case allowed && resp.StatusCode == 403:
					t.Fatalf("403, want the route answered")
				case !allowed && resp.StatusCode != 403:
					t.Fatalf("%d, want 403", resp.StatusCode)
				}
			})
		}
	}
}

// dialFrom is a client whose connections come from the loopback address
// local, so tests can play two hosts.
func dialFrom(local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}}
}

func get(t *testing.T, c *http.Client, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestFailedAuthIsThrottledAndLogged: a guesser is cut off after a burst
// and logged (address, route, reason, never the secret), and a good
// client at another address is not slowed.
func TestFailedAuthIsThrottledAndLogged(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newEnvLogged(t, db.Options{SiteID: 7}, log, nil)
	attacker, good := dialFrom("127.0.0.2"), dialFrom("127.0.0.1")
	url := e.url + "/edge/v1/agents"
	codes := map[int]int{}
	start := time.Now()
	for i := range 200 {
		codes[get(t, attacker, url, "guess-number-"+itoa(int64(i))+"-0123456789")]++
		if i%20 == 0 {
			if c := get(t, good, url, testToken); c != 200 {
				t.Fatalf("good client at another address got %d while the guesser was throttled", c)
			}
		}
	}
	// The budget refills at authFailRate a second while the loop runs.
	budget := authFailBurst + int(authFailRate*time.Since(start).Seconds()) + 1
	if codes[429] == 0 || codes[401] > budget || codes[401]+codes[429] != 200 {
		t.Fatalf("guesses answered %v, want at most %d 401 and the rest 429", codes, budget)
	}
	// Throttled means throttled: not even the right token is checked.
	if c := get(t, attacker, url, testToken); c != 429 {
		t.Fatalf("throttled address with the right token: %d, want 429", c)
	}
	out := logs.String()
	if !strings.Contains(out, "request refused") || !strings.Contains(out, "client=127.0.0.2") ||
		!strings.Contains(out, "route=/edge/v1/agents") || !strings.Contains(out, `reason="invalid credentials: malformed token"`) {
		t.Fatalf("refusal not logged with address, route and reason:\n%s", out)
	}
	if strings.Contains(out, "guess-number") || strings.Contains(out, testToken) {
		t.Fatalf("the log holds a presented credential:\n%s", out)
	}
	if n := strings.Count(out, "request refused"); n > 2 {
		t.Fatalf("%d log lines for one address's flood, want one per %s", n, refusalLogEvery)
	}
}

// TestDebugLogNeverShowsCredentials: fasthttp quotes the header value it
// cannot parse; a credential with a stray byte must not reach the log.
func TestDebugLogNeverShowsCredentials(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newEnvLogged(t, db.Options{SiteID: 7}, log, nil)
	for _, bad := range []string{"\x01", "\x00", "\x7f"} {
		raw := "POST /api/mind/telephony/callReceived HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testToken + bad + "x\r\nContent-Length: 2\r\n\r\n{}"
		c, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte(raw))
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, _ = io.ReadAll(c)
		c.Close()
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(logs.String(), "fasthttp") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if out := logs.String(); strings.Contains(out, testToken[5:]) || !strings.Contains(out, "redacted") {
		t.Fatalf("debug log shows the credential or nothing:\n%s", out)
	}
}

// TestPerAddressConnectionLimit: with max_connections = 8, one host
// holding half-sent requests cannot take the PBX's connections.
func TestPerAddressConnectionLimit(t *testing.T) {
	e := newEnv(t, func(_ *authOptions, l *Limits) { l.MaxConnections = 8; l.ReadTimeout = 3 * time.Second })
	if e.srv.http.MaxConnsPerIP != 2 {
		t.Fatalf("MaxConnsPerIP %d with 8 connections, want 2", e.srv.http.MaxConnsPerIP)
	}
	if d := New(nil, nil, nil, nil, Limits{MaxConnections: 4096}); d.http.MaxConnsPerIP != 256 {
		t.Fatalf("default MaxConnsPerIP %d, want 256", d.http.MaxConnsPerIP)
	}
	host := strings.TrimPrefix(e.url, "http://")
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	for range 8 {
		c, err := d.DialContext(context.Background(), "tcp", host)
		if err != nil {
			continue
		}
		defer c.Close()
		_, _ = c.Write([]byte("POST /api/mind/telephony/callReceived HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"))
	}
	time.Sleep(100 * time.Millisecond)
	if a := e.call(`{"routing":"none","phone":"+491234567890","channelId":"pbx-1"}`); a.code != 200 {
		t.Fatalf("the PBX's call while another host holds half-sent requests: %d %s", a.code, a.raw)
	}
}

// TestSecurityHeaders: nothing with data is cached or sniffed.
func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/edge/v1/tickets/1", "/edge/v1/status", "/metrics", "/", "/healthz", "/nope"} {
		req, _ := http.NewRequest("GET", e.url+p, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: headers %v", p, resp.Header)
		}
		if resp.Header.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS over plain HTTP", p)
		}
	}
}

// TestReadyzIsCached: an unauthenticated flood of /readyz costs one
// commit a second, not one per request.
func TestReadyzIsCached(t *testing.T) {
	e := newEnv(t)
	before, _ := e.store.CommitStats()
	start := time.Now()
	for range 50 {
		if a := e.do("GET", "/readyz", "", "X-None", "1"); a.code != 200 {
			t.Fatalf("readyz: %d", a.code)
		}
	}
	after, _ := e.store.CommitStats()
	// One commit per second the loop took, and one for the start.
	if n := after - before; n > int64(time.Since(start)/readyInterval)+1 {
		t.Fatalf("50 readyz requests made %d commits", n)
	}
}

// TestCallBodyLimitAndRate: a call body is limited below the bulk upload
// limit, and the optional per-client call rate refuses the excess with 429.
func TestCallBodyLimitAndRate(t *testing.T) {
	e := newEnv(t, func(_ *authOptions, l *Limits) { l.CallsPerSecondPerClient = 5 })
	big := `{"routing":"none","phone":"+491234567890","callerName":"` + strings.Repeat("x", 200<<10) + `"}`
	if a := e.call(big); a.code != 413 {
		t.Fatalf("200 KiB call body: %d, want 413", a.code)
	}
	codes := map[int]int{}
	start := time.Now()
	for i := range 60 {
		codes[e.call(`{"routing":"none","phone":"+491234567890","channelId":"rate-`+itoa(int64(i))+`"}`).code]++
	}
	// A burst of 10, then 5 a second: 60 calls in under 10 s meet 429.
	if took := time.Since(start); took < 10*time.Second && codes[429] == 0 || codes[200] < 10 || codes[200]+codes[429] != 60 {
		t.Fatalf("60 calls in %s with a rate of 5/s: %v", took, codes)
	}
}

// TestCustomerFieldsAreBounded: a 900 KB firstname is refused, not stored.
func TestCustomerFieldsAreBounded(t *testing.T) {
	e := newEnv(t)
	body := `{"id":"big","phones":["+49301234567"],"firstname":"` + strings.Repeat("x", 900<<10) + `"}` + "\n"
	if a := e.do("PUT", "/edge/v1/customers", body); a.code != 400 || !strings.Contains(a.raw, "firstname") {
		t.Fatalf("900 KB firstname: %d %.200s", a.code, a.raw)
	}
	if a := e.do("GET", "/edge/v1/customers/big", ""); a.code != 404 {
		t.Fatalf("the refused customer was stored: %d", a.code)
	}
}
