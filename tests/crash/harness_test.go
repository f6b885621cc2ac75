// Package crash kills the real enneo-edge binary while calls are in flight
// and checks that every acknowledged ticket survives.
package crash

import (
	"bufio"
	"bytes"
	"fmt"
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

const token = "crash-test-token-0123456789"

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "enneo-edge-crash")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "enneo-edge")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Dir = "../.."
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build enneo-edge:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// edge is one running enneo-edge process.
type edge struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, valid after done
	logs *bytes.Buffer
}

// writeConfig writes a config for a database in dir, listening on a free
// loopback port.
func writeConfig(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "enneo-edge.toml")
	cfg := fmt.Sprintf(`[server]
listen = "127.0.0.1:0"
[storage]
path = %q
[site]
id = 3
[auth]
tokens = [%q]
`, filepath.Join(dir, "edge.db"), token)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var listenLine = regexp.MustCompile(`listening on (http://\S+)`)

func start(t *testing.T, cfg string) *edge {
	t.Helper()
	cmd := exec.Command(binary, "serve", "-config", cfg)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := new(bytes.Buffer)
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e := &edge{cmd: cmd, done: make(chan struct{}), logs: logs}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { e.err = cmd.Wait(); close(e.done) }()
	select {
	case e.url = <-urls:
	case <-e.done:
		t.Fatalf("enneo-edge exited at start: %v\n%s", e.err, logs)
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("enneo-edge did not start\n%s", logs)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-e.done
	})
	return e
}

func (e *edge) post(client *http.Client, body string) (*http.Response, []byte, error) {
	req, err := http.NewRequest("POST", e.url+"/api/mind/telephony/callReceived", strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func (e *edge) get(path string) (int, []byte, error) {
	req, err := http.NewRequest("GET", e.url+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}
