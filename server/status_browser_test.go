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
)

// browser finds Debian's chromium (CI installs it) or skips.
func browser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
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

// TestStatusPageInBrowser loads the status page in headless Chromium
// against a running server and reads what a person would: it asks for a
// token, then shows the waiting queue, the agent on a call, the outbox
// backlog and the upstream state, and updates itself when a call arrives.
func TestStatusPageInBrowser(t *testing.T) {
	bin := browser(t)
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
		chromedp.WindowSize(1200, 800),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()

	text := func(id string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(id)))
		if err != nil {
			t.Fatalf("read %s: %v", id, err)
		}
		return v
	}
	waitFor := func(id, want string) {
		t.Helper()
		expr := fmt.Sprintf(`document.querySelector(%q).textContent === %q`, id, want)
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatalf("page never showed %s = %q (it shows %q; banner %q): %v", id, want, text(id), text("#banner"), err)
		}
	}
	err := chromedp.Do(ctx,
		chromedp.Navigate(e.url+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#token"), testToken),
		chromedp.Click(chromedp.CSS("#show")),
		chromedp.WaitVisible(chromedp.CSS("#main")),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	waitFor("#waiting", "3")
	if pending, upstream, rate := text("#pending"), text("#upstream"), text("#rate"); pending != "5" || upstream != "air-gapped" || rate == "–" {
		t.Errorf("page shows outbox %q, upstream %q, rate %q", pending, upstream, rate)
	}
	if agents := text("#agents"); !strings.Contains(agents, "42") || !strings.Contains(agents, "interacting") {
		t.Errorf("agents table: %q", agents)
	}

	// The page refreshes itself: a new call shows without a reload.
	if a := e.call(`{"routing":"native","channelId":"p-late"}`); a.code != 200 {
		t.Fatal(a.raw)
	}
	waitFor("#waiting", "4")
	waitFor("#pending", "6") // the calls and agent 42's presence
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(artifactDir(t), "status-page.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
