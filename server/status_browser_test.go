package server

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/enneo-edge/enneo-edge/health"
	"github.com/enneo-edge/enneo-edge/model"
)

// browser finds Debian's chromium (CI installs it) or skips.
func browser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium installed; .ci/run installs it, CI must test the status page in a browser")
	}
	t.Skip("no chromium installed (apt-get install chromium); the status page is not tested in a browser")
	return ""
}

// artifactDir is where the screenshot is kept: $EDGE_TEST_ARTIFACTS, or a
// folder in the system's temp dir.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("EDGE_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "enneo-edge-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// page is a headless Chromium tab and helpers to read it.
type page struct {
	t   *testing.T
	ctx context.Context
}

// openPage starts Chromium, opens the status page at url and logs in.
func openPage(t *testing.T, url string, width, height int) *page {
	t.Helper()
	bin := browser(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(width, height),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	t.Cleanup(cancel)
	err := chromedp.Do(ctx,
		chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#token"), testToken),
		chromedp.Click(chromedp.CSS("#show")),
		chromedp.WaitVisible(chromedp.CSS("#main")),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return &page{t: t, ctx: ctx}
}

func (p *page) text(id string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(id)))
	if err != nil {
		p.t.Fatalf("read %s: %v", id, err)
	}
	return v
}

func (p *page) waitFor(id, want string) {
	p.t.Helper()
	expr := fmt.Sprintf(`document.querySelector(%q).textContent === %q`, id, want)
	if _, err := chromedp.Run(p.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		p.t.Fatalf("page never showed %s = %q (it shows %q; banner %q): %v", id, want, p.text(id), p.text("#banner"), err)
	}
}

func (p *page) eval(expr string) any {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[any](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// screenshot keeps the whole page as a test artifact.
func (p *page) screenshot(name string) {
	p.t.Helper()
	shot, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(artifactDir(p.t), name)
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", path)
}

// TestStatusPageInBrowser loads the status page in headless Chromium
// against a running server and reads what a person would: it asks for a
// token, then shows the waiting queue, the agent on a call, the records an
// air-gapped site keeps and the upstream state, and updates itself when a
// call arrives.
func TestStatusPageInBrowser(t *testing.T) {
	browser(t)
	e := newOpsEnv(t, opsConfig{})
	// Agent 42 on an outbound call is logged in, so native calls wait
	// instead of being declined for want of agents.
	if a := e.call(`{"direction":"out","to":"+4930123456","agentId":42,"channelId":"p-out"}`); a.code != 200 {
		t.Fatal(a.raw)
	}
	for i := range 3 {
		if a := e.call(fmt.Sprintf(`{"routing":"native","channelId":"p-%d"}`, i)); a.code != 200 {
			t.Fatal(a.raw)
		}
	}
	p := openPage(t, e.url, 1200, 800)
	p.waitFor("#waiting", "3")
	if pending, upstream, rate := p.text("#pending"), p.text("#upstream"), p.text("#rate"); pending != "5" || upstream != "air-gapped" || rate == "–" {
		t.Errorf("page shows outbox %q, upstream %q, rate %q", pending, upstream, rate)
	}
	if kept := p.text("#outboxAge"); !strings.HasPrefix(kept, "air-gapped: kept locally") {
		t.Errorf("air-gapped records shown as %q", kept)
	}
	if agents := p.text("#agents"); !strings.Contains(agents, "42") || !strings.Contains(agents, "interacting") {
		t.Errorf("agents table: %q", agents)
	}

	// The page refreshes itself: a new call shows without a reload.
	if a := e.call(`{"routing":"native","channelId":"p-late"}`); a.code != 200 {
		t.Fatal(a.raw)
	}
	p.waitFor("#waiting", "4")
	p.waitFor("#pending", "6") // the calls and agent 42's presence
	p.screenshot("status-page.png")
}

// TestStatusPageWithManyAgentsAndABacklog is the page of a busy site whose
// link to central is down: 200 named agents in every state, calls waiting,
// a backlog, refused requests. The table stays a box of its own with a
// filter, the chart is drawn, and the footprint, free disk and cap show.
func TestStatusPageWithManyAgentsAndABacklog(t *testing.T) {
	browser(t)
	down := false
	e := newOpsEnv(t, opsConfig{maxSize: 256 << 20, srvOpts: []Option{
		WithStorageCap(256 << 20),
		WithUpstream(func() health.Upstream {
			return health.Upstream{Configured: true, Reachable: &down, LastError: "dial tcp 10.1.2.3:443: connect: connection refused"}
		}),
	}})
	ctx := context.Background()
	statuses := []string{model.PresenceIdle, model.PresenceOffline, model.PresenceUnavailable, model.PresenceOffline}
	for id := int64(1); id <= 200; id++ {
		if _, err := e.store.PutAgent(ctx, model.Agent{ID: id, Name: fmt.Sprintf("Agent %d Example", id)}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.SetRoutingStatus(ctx, id, model.RoutingStatusChange{CallRoutingStatus: statuses[id%4]}); err != nil {
			t.Fatal(err)
		}
	}
	// 50 idle, 50 unavailable, 100 offline; agents 1..30 (7 of them idle)
	// on outbound calls; then 80 native calls: the 43 idle agents ring for
	// the first, 37 wait.
	for id := 1; id <= 30; id++ {
		if a := e.call(fmt.Sprintf(`{"direction":"out","to":"+4930123%03d","agentId":%d,"channelId":"out-%d"}`, id, id, id)); a.code != 200 {
			t.Fatal(a.raw)
		}
	}
	for i := range 80 {
		if a := e.call(fmt.Sprintf(`{"routing":"native","phone":"+4917112%05d","channelId":"in-%d"}`, i, i)); a.code != 200 {
			t.Fatal(a.raw)
		}
	}
	for range 3 {
		e.do("GET", "/edge/v1/status", "", "Authorization", "Bearer wrong")
	}
	e.do("POST", callReceivedPath, `{"direction":"sideways"}`)

	p := openPage(t, e.url, 1280, 900)
	p.waitFor("#agentCount", "200 of 200 shown · 43 beingConnected, 30 interacting, 42 unavailable, 85 offline")
	// 200 presence changes requested, 110 calls, and the 73 presence
	// changes routing made (43 rings, 30 calls talked on), none forwarded.
	if got := p.text("#pending"); got != "383" {
		t.Errorf("backlog %q, want 383", got)
	}
	if got := p.text("#outboxAge"); !strings.HasPrefix(got, "oldest ") {
		t.Errorf("backlog age %q", got)
	}
	if got := p.text("#upstream"); got != "unreachable" {
		t.Errorf("upstream %q", got)
	}
	// The page's own first request, before the token, is a 401 too.
	if got, detail := p.text("#refused"), p.text("#refusedDetail"); got != "5" || !strings.Contains(detail, "4 × 401") || !strings.Contains(detail, "1 × 400") {
		t.Errorf("refused %q (%q)", got, detail)
	}
	if got := p.text("#declined"); !strings.HasSuffix(got, "calls queued") {
		t.Errorf("declined %q", got)
	}
	db := p.text("#database")
	for _, want := range []string{"log 64.0 MiB", "free on its disk; cap 256.0 MiB", "write-ahead log on", "(abc123)"} {
		if !strings.Contains(db, want) {
			t.Errorf("database box lacks %q: %q", want, db)
		}
	}
	if agents := p.text("#agents"); !strings.Contains(agents, "Agent 7 Example") {
		t.Errorf("no agent names: %.200q", agents)
	}
	if n := p.eval(`document.querySelectorAll("#chart path").length`); n != float64(3) {
		t.Errorf("chart has %v paths, want 3 (area, calls, latency)", n)
	}
	// The table scrolls inside its box: the page stays about a screen
	// high instead of 4,400 px.
	if h := p.eval(`document.documentElement.scrollHeight`).(float64); h > 1400 {
		t.Errorf("page is %v px high", h)
	}
	p.screenshot("status-page-200-agents.png")

	// The filter narrows the table by name, ID or ticket, and by status.
	if err := chromedp.Do(p.ctx, chromedp.SendKeys(chromedp.CSS("#agentFilter"), "Agent 17 Ex")); err != nil {
		t.Fatal(err)
	}
	p.waitFor("#agentCount", "1 of 200 shown · 43 beingConnected, 30 interacting, 42 unavailable, 85 offline")
	if _, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`document.getElementById("agentFilter").value = "";
		document.getElementById("agentStatus").value = "interacting";
		document.getElementById("agentStatus").dispatchEvent(new Event("change"))`)); err != nil {
		t.Fatal(err)
	}
	p.waitFor("#agentCount", "30 of 200 shown · 43 beingConnected, 30 interacting, 42 unavailable, 85 offline")
}
