package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/enneo-edge/enneo-edge/auth"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/phone"
)

const (
	testToken     = "test-token-0123456789abcdef"
	testJWTSecret = "test-jwt-secret-0123456789abcdef0123456789"
)

// env is a real server on a loopback port over a real bbolt file.
type env struct {
	t      testing.TB
	url    string
	store  *db.Store
	client *http.Client
	srv    *Server
}

type authOptions = auth.Options

type envOption func(*authOptions, *Limits)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	return newEnvWith(t, db.Options{SiteID: 7}, opts...)
}

// newEnvWith is newEnv over a store with the given options (a test clock,
// routing timers).
func newEnvWith(t *testing.T, so db.Options, opts ...envOption) *env {
	t.Helper()
	return newEnvLogged(t, so, nil, nil, opts...)
}

// newEnvLogged is newEnvWith with the server's logger (nil: none) and
// options.
func newEnvLogged(t testing.TB, so db.Options, log *slog.Logger, srvOpts []Option, opts ...envOption) *env {
	t.Helper()
	ao := auth.Options{Tokens: []string{testToken}, JWTSecret: []byte(testJWTSecret), Leeway: time.Minute}
	lim := Limits{ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, IdleTimeout: time.Minute,
		MaxBodyBytes: 1 << 20, ReadBufferBytes: 16 << 10, MaxConnections: 1024}
	for _, o := range opts {
		o(&ao, &lim)
	}
	store, err := db.Open(filepath.Join(t.TempDir(), "edge.db"), so)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go store.Run(ctx)
	a, err := auth.New(ao)
	if err != nil {
		t.Fatal(err)
	}
	pn, err := phone.NewNormalizer("DE")
	if err != nil {
		t.Fatal(err)
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv := New(store, a, pn, log, lim, srvOpts...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(func() {
		// Connections the client dialled but never used look busy to the
		// server and would hold up Shutdown until the read timeout.
		tr.CloseIdleConnections()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		cancel()
		if err := store.Close(); err != nil {
			t.Error(err)
		}
	})
	return &env{t: t, url: "http://" + ln.Addr().String(), store: store, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}, srv: srv}
}

// answer is a decoded JSON response.
type answer struct {
	code int
	body map[string]any
	raw  string
	hdr  http.Header
}

func (a answer) str(key string) string {
	v, _ := a.body[key].(string)
	return v
}

func (a answer) num(key string) int64 {
	v, _ := a.body[key].(json.Number)
	n, _ := v.Int64()
	return n
}

// do sends a request; headers come in name, value pairs. Without any
// credential header the test token is sent as Bearer.
func (e *env) do(method, path, body string, headers ...string) answer {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if len(headers) == 0 {
		headers = []string{"Authorization", "Bearer " + testToken}
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] != "" {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	a := answer{code: resp.StatusCode, raw: string(raw), hdr: resp.Header}
	dec := json.NewDecoder(strings.NewReader(a.raw))
	dec.UseNumber()
	if err := dec.Decode(&a.body); err != nil {
		e.t.Fatalf("%s %s: answer %d is not a JSON object: %q", method, path, resp.StatusCode, a.raw)
	}
	return a
}

func (e *env) call(body string) answer {
	e.t.Helper()
	return e.do("POST", "/api/mind/telephony/callReceived", body)
}

// ticket fetches the stored ticket view through the API.
func (e *env) ticket(id int64) (ticket, queue map[string]any) {
	e.t.Helper()
	a := e.do("GET", "/edge/v1/tickets/"+itoa(id), "")
	if a.code != 200 {
		e.t.Fatalf("get ticket %d: %d %s", id, a.code, a.raw)
	}
	ticket, _ = a.body["ticket"].(map[string]any)
	queue, _ = a.body["queueEntry"].(map[string]any)
	return ticket, queue
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func num(v any) int64 {
	n, _ := v.(json.Number).Int64()
	return n
}

// newHandler is the real router and handlers over a real store, without a
// listener: for the fuzz target and the benchmark that count the server's
// own work.
func newHandler(tb testing.TB, site int, commitTimeout time.Duration) fasthttp.RequestHandler {
	tb.Helper()
	store, err := db.Open(filepath.Join(tb.TempDir(), "edge.db"), db.Options{SiteID: site})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go store.Run(ctx)
	tb.Cleanup(func() { cancel(); _ = store.Close() })
	a, err := auth.New(auth.Options{Tokens: []string{testToken}})
	if err != nil {
		tb.Fatal(err)
	}
	pn, err := phone.NewNormalizer("DE")
	if err != nil {
		tb.Fatal(err)
	}
	return New(store, a, pn, slog.New(slog.NewTextHandler(io.Discard, nil)), Limits{CommitTimeout: commitTimeout}).http.Handler
}
