package server

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/db"
)

// metricValue finds one sample in Prometheus text; missing means -1.
func metricValue(t *testing.T, text, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	return -1
}

const callsOK = `edge_http_requests_total{route="/api/mind/telephony/callReceived",code="200"}`

func TestMetricsChangeWithTraffic(t *testing.T) {
	e := newOpsEnv(t, opsConfig{})
	before := e.scrape()
	for _, name := range []string{
		"edge_tickets_stored", "edge_customers_stored", "edge_db_size_bytes", "edge_outbox_pending",
		"edge_outbox_oldest_age_seconds", "edge_outbox_dead_letters", "edge_outbox_paused",
		"edge_upstream_reachable", "edge_calls_pending_commit", "edge_db_commits_total",
		"edge_db_commit_writes_total", `edge_db_commit_errors_total{kind="full"}`,
		`edge_db_commit_errors_total{kind="io"}`, "edge_calls_overloaded_total",
		"edge_db_log_enabled", "edge_db_log_bytes_total", "edge_db_log_large_commits_total",
		"edge_db_log_sync_duration_seconds_count", "edge_db_checkpoint_duration_seconds_count",
	} {
		if metricValue(t, before, name) < 0 {
			t.Errorf("metric %s missing before traffic", name)
		}
	}
	if v := metricValue(t, before, "edge_tickets_stored"); v != 0 {
		t.Errorf("tickets before traffic = %v", v)
	}
	for i := range 5 {
		if a := e.call(fmt.Sprintf(`{"routing":"native","channelId":"m-%d"}`, i)); a.code != 200 {
			t.Fatalf("call: %d %s", a.code, a.raw)
		}
	}
	if a := e.call(`{"routing":"sideways"}`); a.code != 400 {
		t.Fatalf("bad call: %d", a.code)
	}
	e.metrics.ObserveUpstream(503) // as the forwarder will
	after := e.scrape()
	for _, tt := range []struct {
		name string
		want float64
	}{
		{callsOK, 5},
		{`edge_http_requests_total{route="/api/mind/telephony/callReceived",code="400"}`, 1},
		{`edge_http_request_duration_seconds_count{route="/api/mind/telephony/callReceived"}`, 6},
		{"edge_tickets_stored", 5},
		{"edge_outbox_pending", 5},
		{`edge_upstream_responses_total{code="503"}`, 1},
		{`edge_db_commit_batch_size_count`, metricValue(t, after, "edge_db_commits_total")},
		{"edge_db_log_enabled", 1},
		// Every commit is fsynced once: in the log, or in place if large.
		{"edge_db_log_sync_duration_seconds_count", metricValue(t, after, "edge_db_commits_total") -
			metricValue(t, after, "edge_db_log_large_commits_total")},
	} {
		if got := metricValue(t, after, tt.name); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, got, tt.want)
		}
	}
	if b := metricValue(t, after, "edge_db_log_bytes_total"); b < 5*4096 {
		t.Errorf("log bytes = %v, want at least a page per call", b)
	}
	if w := metricValue(t, after, "edge_db_commit_writes_total"); w < 5 {
		t.Errorf("commit writes = %v, want at least 5", w)
	}
	if s := metricValue(t, after, "edge_db_size_bytes"); s <= 0 {
		t.Errorf("db size = %v", s)
	}
	if !strings.Contains(after, `edge_http_request_duration_seconds_bucket{route="/api/mind/telephony/callReceived",le="0.005"}`) {
		t.Error("latency histogram buckets missing")
	}
	if a := e.do("GET", "/metrics", "", "X-None", ""); a.code != 401 {
		t.Errorf("/metrics without credentials: %d", a.code)
	}
}

// TestOverloadAnswers503AtOnce holds the commit loop so admitted calls
// stay pending; calls past the limit must be refused at once with
// Retry-After, and every admitted call must be stored once commits run.
func TestOverloadAnswers503AtOnce(t *testing.T) {
	const limit = 4
	e := newOpsEnv(t, opsConfig{maxPending: limit, holdCommit: true})
	var wg sync.WaitGroup
	codes := make([]int, limit)
	for i := range limit {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", e.url+callReceivedPath, strings.NewReader(fmt.Sprintf(`{"channelId":"held-%d"}`, i)))
			req.Header.Set("Authorization", "Bearer "+testToken)
			resp, err := e.client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, e.scrape(), "edge_calls_pending_commit") < limit {
		if time.Now().After(deadline) {
			t.Fatal("the held calls never became pending")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := range 20 {
		a := e.call(fmt.Sprintf(`{"channelId":"refused-%d"}`, i))
		if a.code != 503 {
			t.Fatalf("call %d past the limit: %d %s", i, a.code, a.raw)
		}
		if a.hdr.Get("Retry-After") == "" {
			t.Fatal("503 without Retry-After")
		}
		if !strings.Contains(a.str("error"), "overloaded: 4 calls are already waiting for a commit (server.max_pending_commits)") {
			t.Fatalf("error text: %q", a.str("error"))
		}
	}
	e.startCommits()
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("admitted call %d answered %d", i, c)
		}
		if _, err := e.store.TicketByChannel(fmt.Sprintf("held-%d", i)); err != nil {
			t.Errorf("admitted call %d not stored: %v", i, err)
		}
	}
	if _, err := e.store.TicketByChannel("refused-0"); err == nil {
		t.Error("a refused call was stored")
	}
	if a := e.call(`{"channelId":"refused-0"}`); a.code != 200 {
		t.Errorf("retry after overload: %d %s", a.code, a.raw)
	}
	if v := metricValue(t, e.scrape(), "edge_calls_overloaded_total"); v != 20 {
		t.Errorf("overloaded counter = %v, want 20", v)
	}
}

// TestFullDatabaseAnswers503AndRecovers fills a 1 MiB file: callReceived
// answers 503 with a clear error, acknowledged tickets stay readable, and
// calls succeed again once deleting customers frees space.
func TestFullDatabaseAnswers503AndRecovers(t *testing.T) {
	e := newOpsEnv(t, opsConfig{maxSize: 1 << 20})
	var lines []string
	for i := range 150 {
		lines = append(lines, fmt.Sprintf(`{"id":"big-%d","contractIds":["K-%d"],"firstname":"%s"}`, i, i, strings.Repeat("n", 1500)))
	}
	if a := e.do("PUT", "/edge/v1/customers", strings.Join(lines, "\n")); a.code != 200 {
		t.Fatalf("put customers: %d %s", a.code, a.raw)
	}
	msg := strings.Repeat("m", 3000)
	var acked []int64
	var full answer
	for i := 0; i < 2000; i++ {
		a := e.call(fmt.Sprintf(`{"channelId":"fill-%d","transcript":[{"speaker":"customer","message":%q}]}`, i, msg))
		if a.code != 200 {
			full = a
			break
		}
		acked = append(acked, a.num("ticketId"))
	}
	if full.code != 503 {
		t.Fatalf("filling the database: want 503, got %d %s", full.code, full.raw)
	}
	if !strings.Contains(full.str("error"), "database full (storage.max_size_bytes reached or disk full); nothing was stored") {
		t.Fatalf("error text: %q", full.str("error"))
	}
	if full.hdr.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if len(acked) == 0 {
		t.Fatal("nothing fitted before the cap")
	}
	for _, id := range acked {
		e.ticket(id) // fails the test when missing
	}
	if err := e.store.Check(); err != nil {
		t.Fatalf("check when full: %v", err)
	}
	if v := metricValue(t, e.scrape(), `edge_db_commit_errors_total{kind="full"}`); v < 1 {
		t.Errorf("full commits counted %v", v)
	}
	for i := range 150 {
		e.do("DELETE", fmt.Sprintf("/edge/v1/customers/big-%d", i), "")
	}
	if a := e.call(fmt.Sprintf(`{"channelId":"after","transcript":[{"speaker":"customer","message":%q}]}`, msg)); a.code != 200 {
		t.Fatalf("call after space returned: %d %s", a.code, a.raw)
	}
	if a := e.do("GET", "/readyz", ""); a.code != 200 {
		t.Errorf("readyz after recovery: %d %s", a.code, a.raw)
	}
}

// TestCommitFailureAnswers5xx turns the file's descriptor read-only under
// the running server: the call in flight gets a 5xx, never a 200, and the
// store signals the process to exit.
func TestCommitFailureAnswers5xx(t *testing.T) {
	var file *os.File
	e := newOpsEnv(t, opsConfig{openFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		file = f
		return f, err
	}})
	if a := e.call(`{"channelId":"ok"}`); a.code != 200 {
		t.Fatalf("first call: %d", a.code)
	}
	ro, err := os.Open(e.store.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := syscall.Dup2(int(ro.Fd()), int(file.Fd())); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []string{"during", "after"} {
		a := e.call(fmt.Sprintf(`{"channelId":%q}`, ch))
		if a.code != 500 || !strings.Contains(a.str("error"), "storage failed; restart required") {
			t.Fatalf("call %s after the disk failed: %d %s", ch, a.code, a.raw)
		}
	}
	select {
	case <-e.store.Fatal():
	default:
		t.Fatal("store did not signal the fatal error")
	}
	if v := metricValue(t, e.scrape(), `edge_db_commit_errors_total{kind="io"}`); v != 1 {
		t.Errorf("io commit errors = %v, want 1", v)
	}
}

func TestStatusShowsAgentsQueueAndCalls(t *testing.T) {
	e := newOpsEnv(t, opsConfig{})
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	e.metrics.calls.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	// Agent 42 on an outbound call is logged in, so native calls wait
	// instead of being declined for want of agents.
	if a := e.call(`{"direction":"out","to":"+4930123456","agentId":42,"channelId":"s-out"}`); a.code != 200 {
		t.Fatal(a.raw)
	}
	for i := range 3 {
		if a := e.call(fmt.Sprintf(`{"routing":"native","channelId":"s-%d"}`, i)); a.code != 200 {
			t.Fatal(a.raw)
		}
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	a := e.do("GET", "/edge/v1/status", "")
	if a.code != 200 {
		t.Fatalf("status: %d %s", a.code, a.raw)
	}
	for _, want := range []string{
		`"queue":{"waiting":3,`, `"callRoutingStatus":"interacting"`, `"userId":42`, `"pending":4`,
		`"perSecond":0.444`, `"upstream":{"configured":false,"reachable":null`, `"tickets":4`, `"version":"test"`,
	} {
		if !strings.Contains(a.raw, want) {
			t.Errorf("status lacks %s: %s", want, a.raw)
		}
	}
	if a := e.do("GET", "/edge/v1/status", "", "X-None", ""); a.code != 401 {
		t.Errorf("status without credentials: %d", a.code)
	}
}

func TestStatusPageIsSelfContained(t *testing.T) {
	e := newOpsEnv(t, opsConfig{})
	resp, err := e.client.Get(e.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(string(b), "<title>enneo-edge status</title>") {
		t.Error("not the status page")
	}
	// Air-gapped sites: nothing may be loaded from another host.
	if m := regexp.MustCompile(`(src|href)=["']?(https?:)?//`).FindString(string(b)); m != "" {
		t.Errorf("status page loads from elsewhere: %s", m)
	}
}

func TestBackupRouteStreamsAConsistentCopy(t *testing.T) {
	e := newOpsEnv(t, opsConfig{})
	for i := range 20 {
		if a := e.call(fmt.Sprintf(`{"channelId":"b-%d"}`, i)); a.code != 200 {
			t.Fatal(a.raw)
		}
	}
	if a := e.do("GET", "/edge/v1/backup", "", "X-None", ""); a.code != 401 {
		t.Fatalf("backup without credentials: %d", a.code)
	}
	req, _ := http.NewRequest("GET", e.url+"/edge/v1/backup", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	path := filepath.Join(t.TempDir(), "copy.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(f, resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if resp.StatusCode != 200 || n != resp.ContentLength || n == 0 {
		t.Fatalf("backup: %d, %d bytes of %d", resp.StatusCode, n, resp.ContentLength)
	}
	cp, err := db.Open(path, db.Options{SiteID: 7, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if err := cp.Check(); err != nil {
		t.Fatalf("backup copy fails check: %v", err)
	}
	if n, _ := cp.TicketCount(); n != 20 {
		t.Errorf("backup holds %d tickets, want 20", n)
	}
}
