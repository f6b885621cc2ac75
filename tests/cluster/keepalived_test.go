package cluster

import (
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const checkScript = "../../integrations/keepalived/check_enneo_edge.sh"

// needTool skips outside CI when a tool the test runs is not installed; in
// CI (CI=true) .ci/run installs it, so its absence fails.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (CI installs it in .ci/run)", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return path
}

// runCheck runs the keepalived check script against base and returns its
// exit code and what it printed.
func runCheck(t *testing.T, base string) (int, string) {
	t.Helper()
	cmd := exec.Command("sh", checkScript, base)
	cmd.Env = append(os.Environ(), "ENNEO_EDGE_TIMEOUT=2")
	out, err := cmd.CombinedOutput()
	if err == nil {
		return 0, string(out)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("run %s: %v", checkScript, err)
	return -1, ""
}

// waitCheck waits until the script exits with want on base.
func waitCheck(t *testing.T, what, base string, want int, limit time.Duration) {
	t.Helper()
	var code int
	var out string
	deadline := time.Now().Add(limit)
	for {
		if code, out = runCheck(t, base); code == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: check_enneo_edge.sh exits %d after %s, want %d: %s", what, code, limit, want, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestKeepalivedCheckFollowsQuorum runs integrations/keepalived's check
// script against a real cluster node: 0 while it is up, 1 once it is cut
// off from the other two (no quorum: keepalived must move the address
// away), 0 again once healed, 1 once killed. The majority passes all along.
func TestKeepalivedCheckFollowsQuorum(t *testing.T) {
	needTool(t, "curl")
	c := newCluster(t, options{proxied: true})
	lead := c.waitLeader(30 * time.Second)
	n := c.followers(lead)[0]
	waitCheck(t, "node up", n.base, 0, 10*time.Second)

	c.isolate(c.index(n), true)
	waitCheck(t, "node cut off from the other two", n.base, 1, 20*time.Second)
	// What keepalived follows is what the node does: it takes no write.
	if body := do503(t, &http.Client{Timeout: 10 * time.Second}, n, "ka-cut"); !clearNoQuorum(body) {
		t.Errorf("a write on the cut-off follower: %s, want the no-quorum error", body)
	}
	for _, m := range c.nodes {
		if m != n {
			waitCheck(t, "a node of the majority", m.base, 0, 20*time.Second)
		}
	}
	c.isolate(c.index(n), false)
	waitCheck(t, "node healed", n.base, 0, 30*time.Second)

	n.kill(t)
	if code, out := runCheck(t, n.base); code != 1 {
		t.Fatalf("killed node: check exits %d, want 1: %s", code, out)
	}
	for _, m := range c.nodes {
		if m != n {
			waitCheck(t, "a survivor", m.base, 0, 20*time.Second)
		}
	}
}

// TestKeepalivedConfigParses runs keepalived's own config test on the
// shipped keepalived.conf, with the script's path and user of this machine.
func TestKeepalivedConfigParses(t *testing.T) {
	bin := needTool(t, "keepalived")
	conf, err := os.ReadFile("../../integrations/keepalived/keepalived.conf")
	if err != nil {
		t.Fatal(err)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(checkScript)
	if err != nil {
		t.Fatal(err)
	}
	s := string(conf)
	for old, repl := range map[string]string{
		"/usr/local/lib/enneo-edge/check_enneo_edge.sh": script,
		"script_user keepalived_script":                 "script_user " + me.Username,
	} {
		if !strings.Contains(s, old) {
			t.Fatalf("keepalived.conf no longer contains %q", old)
		}
		s = strings.ReplaceAll(s, old, repl)
	}
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--config-test", "-f", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Fatalf("keepalived --config-test: %v\n%s", err, out)
	}
}
