package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// smallFiles runs the test binary's main under a file size limit below
// the write-ahead log's 32 MiB files: fallocate fails as on a file system
// without it, and the log cannot be made.
func smallFiles(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	cmd := exec.Command("sh", append([]string{"-c", `ulimit -f 16384 && exec "$0" "$@"`, os.Args[0]}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	return cmd
}

func walConfig(t *testing.T, dir, wal string) string {
	t.Helper()
	path := filepath.Join(dir, "edge.toml")
	cfg := "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \"" + filepath.Join(dir, "edge.db") + "\"\nwal = " + wal +
		"\n[auth]\ntokens = [\"wal-test-token-0123456789\"]\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// storage.wal = true is a requirement: without the log serve refuses to
// start and names the cause and the way out.
func TestServeRefusesWithoutARequiredWAL(t *testing.T) {
	dir := t.TempDir()
	cmd := smallFiles(t, dir, "serve", "-config", walConfig(t, dir, "true"))
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `storage.wal = true, but the write-ahead log cannot be used here: wal: reserve 33554432 bytes`) ||
		!strings.Contains(string(out), `set storage.wal = "auto"`) {
		t.Fatalf("serve: %v\n%s", err, out)
	}
}

// served is a serve process started by a test.
type served struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string
	token  string
	stderr strings.Builder
	done   bool
}

// startServed starts cmd (a serve of the test binary's main) and waits for
// its listening line; it is killed when the test ends.
func startServed(t *testing.T, cmd *exec.Cmd, token string) *served {
	t.Helper()
	p := &served{t: t, cmd: cmd, token: token}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	select {
	case p.url = <-urls:
	case <-time.After(30 * time.Second):
		p.stop()
		t.Fatalf("serve did not start:\n%s", p.stderr.String())
	}
	return p
}

// stop kills the process; its stderr is complete afterwards.
func (p *served) stop() {
	if !p.done {
		p.done = true
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

func (p *served) do(method, path, body string) string {
	p.t.Helper()
	req, _ := http.NewRequest(method, p.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// storage.wal = "auto" runs without the log, and says so where an
// operator looks: the log, /readyz and the status data.
func TestServeShowsAWALItCouldNotUse(t *testing.T) {
	dir := t.TempDir()
	p := startServed(t, smallFiles(t, dir, "serve", "-config", walConfig(t, dir, `"auto"`)), "wal-test-token-0123456789")
	if r := p.do("GET", "/readyz", ""); !strings.Contains(r, `"status":"ready"`) || !strings.Contains(r, `"wal":"off: wal: reserve 33554432 bytes`) {
		t.Errorf("/readyz: %s", r)
	}
	if s := p.do("GET", "/edge/v1/status", ""); !strings.Contains(s, `"wal":{"enabled":false,"reason":"wal: reserve 33554432 bytes`) {
		t.Errorf("status: %s", s)
	}
	p.stop()
	if !strings.Contains(p.stderr.String(), `running without the write-ahead log (storage.wal = \"auto\")`) {
		t.Errorf("no warning at start:\n%s", p.stderr.String())
	}
}

// log.level = "debug" in the config gives the line per call; log.access
// a line per request. Both in JSON, as under systemd.
func TestServeLogConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "edge.toml")
	content := "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \"" + filepath.Join(dir, "edge.db") +
		"\"\n[auth]\ntokens = [\"log-test-token-0123456789\"]\n[log]\nlevel = \"debug\"\naccess = true\n"
	if err := os.WriteFile(cfg, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "serve", "-config", cfg)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	p := startServed(t, cmd, "log-test-token-0123456789")
	if r := p.do("POST", "/api/mind/telephony/callReceived", `{"channelId":"log-1","phone":"030 1234567"}`); !strings.Contains(r, `"success":true`) {
		t.Fatal(r)
	}
	p.stop()
	logs := p.stderr.String()
	for _, want := range []string{`"level":"DEBUG","msg":"callReceived","channelId":"log-1","ticketId":1000100000000001`,
		`"msg":"request","method":"POST","route":"/api/mind/telephony/callReceived","status":200`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}
