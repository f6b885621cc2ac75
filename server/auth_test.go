package server

import (
	"encoding/base64"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func signHS256(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testJWTSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	b64 := base64.RawURLEncoding.EncodeToString
	algNone := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64([]byte(`{"userId":1}`)) + "."
	valid := signHS256(t, jwt.MapClaims{"userId": 1, "exp": time.Now().Add(time.Hour).Unix()})
	noExp := signHS256(t, jwt.MapClaims{"userId": 1})
	expired := signHS256(t, jwt.MapClaims{"userId": 1, "exp": time.Now().Add(-time.Hour).Unix()})
	future := signHS256(t, jwt.MapClaims{"userId": 1, "nbf": time.Now().Add(time.Hour).Unix(), "exp": time.Now().Add(2 * time.Hour).Unix()})
	otherKey, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"userId": 1}).SignedString([]byte("another-secret-another-secret-another"))

	tests := []struct {
		name    string
		headers []string
		code    int
		_       string
	}{
		{"bearer token", []string{"Authorization", "Bearer " + testToken}, 200, ""},
		{"bearer lower-case scheme", []string{"Authorization", "bearer " + testToken}, 200, ""},
		{"connect.sid cookie", []string{"Cookie", "theme=dark; connect.sid=" + testToken}, 200, ""},
		{"internal token header", []string{"x-internal-communication-token", testToken}, 200, ""},
		{"valid JWT", []string{"Authorization", "Bearer " + valid}, 200, ""},
		{"JWT without exp", []string{"Authorization", "Bearer " + noExp}, 401, ""},
		{"no credentials", []string{"X-Nothing", "1"}, 401, "missing credentials"},
		{"bad bearer token", []string{"Authorization", "Bearer not-the-token-at-all"}, 401, "invalid credentials"},
		{"bad cookie", []string{"Cookie", "connect.sid=wrong-wrong-wrong-wrong"}, 401, "invalid credentials"},
		{"bad internal token", []string{"x-internal-communication-token", "wrong-wrong-wrong"}, 401, "invalid credentials"},
		{"basic auth", []string{"Authorization", "Basic dXNlcjpwYXNz"}, 401, "invalid credentials"},
		{"alg none JWT", []string{"Authorization", "Bearer " + algNone}, 401, "invalid credentials"},
		{"expired JWT", []string{"Authorization", "Bearer " + expired}, 401, "token expired"},
		{"JWT not yet valid", []string{"Authorization", "Bearer " + future}, 401, "invalid credentials"},
		{"JWT signed with another key", []string{"Authorization", "Bearer " + otherKey}, 401, "invalid credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do("POST", "/api/mind/telephony/callReceived", `{}`, tc.headers...)
			if a.code != tc.code {
				t.Fatalf("code %d, want %d: %s", a.code, tc.code, a.raw)
			}
			if tc.code == 401 {
				// One text for every refused credential: the reason is
				// for the log, not for whoever guesses.
				if a.str("error") != "missing or invalid credentials" || a.body["success"] != false {
					t.Fatalf("error %q, want the generic text", a.str("error"))
				}
				if strings.Contains(a.raw, "wrong-wrong") || strings.Contains(a.raw, "not-the-token") {
					t.Fatal("the error echoes the presented credential")
				}
				if a.hdr.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			}
		})
	}
	if n, _ := e.store.TicketCount(); n != 5 {
		t.Fatalf("%d tickets, want one per accepted request (5)", n)
	}
}

func TestOpenAndClosedRoutes(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		if a := e.do("GET", path, "", "X-None", "1"); a.code != 200 || a.body["success"] != true {
			t.Errorf("%s without credentials: %d %s", path, a.code, a.raw)
		}
	}
	for _, r := range [][2]string{{"GET", "/edge/v1/tickets/1"}, {"GET", "/edge/v1/customers/1"}, {"PUT", "/edge/v1/customers"},
		{"DELETE", "/edge/v1/customers/1"}, {"GET", "/edge/v1/outbox"}, {"POST", "/api/mind/telephony/callReceived"}} {
		if a := e.do(r[0], r[1], "", "X-None", "1"); a.code != 401 {
			t.Errorf("%s %s without credentials: %d", r[0], r[1], a.code)
		}
	}
}

func TestSilentConnectionGets408(t *testing.T) {
	e := newEnv(t, func(_ *authOptions, l *Limits) { l.ReadTimeout = 200 * time.Millisecond })
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(b), "HTTP/1.1 408") || !strings.Contains(string(b), `"success":false`) {
		t.Fatalf("a connection that sent nothing got %q", b)
	}
}
