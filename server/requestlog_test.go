package server

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	json "github.com/goccy/go-json"

	"github.com/enneo-edge/enneo-edge/db"
)

// logBuffer collects JSON log lines from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the decoded lines whose msg is msg.
func (l *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func loggedEnv(t *testing.T, level slog.Level, opts ...Option) (*env, *logBuffer) {
	t.Helper()
	buf := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: level}))
	return newEnvLogged(t, db.Options{SiteID: 7}, log, opts), buf
}

// Every refused request leaves one line with route, status, reason and
// client, at the default level, and never the credential it carried.
func TestRefusedRequestsAreLogged(t *testing.T) {
	e, logs := loggedEnv(t, slog.LevelInfo)
	const secret = "wrong-token-SECRET-4711"
	e.do("POST", callReceivedPath, `{"phone":"+4930123"}`, "Authorization", "Bearer "+secret)
	e.do("POST", callReceivedPath, `{"direction":"sideways"}`)
	e.do("GET", "/no/such/route", "")
	got := logs.lines(t, "request refused")
	if len(got) != 3 {
		t.Fatalf("%d refused lines, want 3:\n%s", len(got), logs)
	}
	want := []struct {
		route  string
		status float64
		reason string
	}{
		{callReceivedPath, 401, "invalid credentials"},
		{callReceivedPath, 400, "direction"},
		{"/no/such/route", 404, "no route GET /no/such/route"},
	}
	for i, w := range want {
		l := got[i]
		if l["route"] != w.route || l["status"] != w.status || !strings.Contains(l["reason"].(string), w.reason) ||
			!strings.HasPrefix(l["client"].(string), "127.0.0.1") || l["level"] != "WARN" {
			t.Errorf("line %d: %v, want %+v", i, l, w)
		}
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("the credential was logged:\n%s", logs)
	}
	if m := e.scrape(); !strings.Contains(m, `edge_http_refused_total{code="401"} 1`) {
		t.Errorf("metrics lack the refused count:\n%s", m)
	}
}

// A flood of refused requests is logged up to the burst; the rest are
// counted, and the count is what the lines left out add up to.
func TestRefusedRequestLogIsRateLimited(t *testing.T) {
	e, logs := loggedEnv(t, slog.LevelInfo)
	const flood = 200
	for range flood {
		// Bad input from a good client: failed authentication would be
		// throttled first (and logged by its own guard).
		e.do("GET", "/api/mind/telephony/getRouting?ticketId=x", "")
	}
	logged := len(logs.lines(t, "request refused"))
	if logged >= flood || logged < refusedBurst {
		t.Fatalf("%d of %d refused requests logged", logged, flood)
	}
	if m := e.scrape(); !strings.Contains(m, "edge_http_refused_not_logged_total "+itoa(int64(flood-logged))) {
		t.Errorf("not-logged count, want %d:\n%s", flood-logged, m)
	}
}

func TestLogLimiterRefillsAndReportsWhatItHeldBack(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLogLimiter(func() time.Time { return now })
	for i := range refusedBurst {
		if ok, _ := l.allow(); !ok {
			t.Fatalf("line %d of the burst held back", i)
		}
	}
	for range 5 {
		if ok, _ := l.allow(); ok {
			t.Fatal("past the burst a line was allowed at once")
		}
	}
	now = now.Add(time.Second / refusedRate)
	if ok, dropped := l.allow(); !ok || dropped != 5 {
		t.Fatalf("after a refill: %v, %d held back, want 5", ok, dropped)
	}
}

// The access log has a line for every request; the debug line of a call
// says which call, which ticket and how long it took.
func TestAccessLogAndCallDebugLine(t *testing.T) {
	e, logs := loggedEnv(t, slog.LevelDebug, WithAccessLog(true))
	a := e.do("POST", callReceivedPath, `{"channelId":"ch-42","phone":"030 1234567"}`)
	if a.code != 200 {
		t.Fatalf("%d %s", a.code, a.raw)
	}
	e.do("GET", "/healthz", "")
	access := logs.lines(t, "request")
	if len(access) != 2 || access[0]["route"] != callReceivedPath || access[0]["status"] != float64(200) ||
		access[1]["route"] != "/healthz" || access[0]["ms"] == nil {
		t.Errorf("access lines %v", access)
	}
	calls := logs.lines(t, "callReceived")
	if len(calls) != 1 || calls[0]["channelId"] != "ch-42" || calls[0]["ticketId"] != float64(a.num("ticketId")) ||
		calls[0]["number"] != "+49301234567" || calls[0]["ms"] == nil {
		t.Errorf("call debug lines %v", calls)
	}
}
