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

// storage.wal = "auto" runs without the log, and says so where an
// operator looks: the log, /readyz and the status data.
func TestServeShowsAWALItCouldNotUse(t *testing.T) {
	dir := t.TempDir()
	cmd := smallFiles(t, dir, "serve", "-config", walConfig(t, dir, `"auto"`))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait() // after it, stderr is no longer written
		}
	}
	defer stop()
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	var url string
	select {
	case url = <-urls:
	case <-time.After(30 * time.Second):
		stop()
		t.Fatalf("serve did not start:\n%s", stderr.String())
	}
	get := func(path string) string {
		req, _ := http.NewRequest("GET", url+path, nil)
		req.Header.Set("Authorization", "Bearer wal-test-token-0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if r := get("/readyz"); !strings.Contains(r, `"status":"ready"`) || !strings.Contains(r, `"wal":"off: wal: reserve 33554432 bytes`) {
		t.Errorf("/readyz: %s", r)
	}
	if s := get("/edge/v1/status"); !strings.Contains(s, `"wal":{"enabled":false,"reason":"wal: reserve 33554432 bytes`) {
		t.Errorf("status: %s", s)
	}
	stop()
	if !strings.Contains(stderr.String(), `running without the write-ahead log (storage.wal = \"auto\")`) {
		t.Errorf("no warning at start:\n%s", stderr.String())
	}
}
