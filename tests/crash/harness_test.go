// Package crash kills the real enneo-edge binary while calls are in flight
// and checks that every acknowledged ticket survives.
package crash

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enneo-edge/enneo-edge/internal/edgetest"
)

const token = "crash-test-token-0123456789"

var binary string

func TestMain(m *testing.M) { edgetest.Main(m, "../..", &binary) }

// edge is one running enneo-edge process.
type edge struct{ *edgetest.Proc }

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

func start(t *testing.T, cfg string) *edge {
	t.Helper()
	return &edge{edgetest.Start(t, binary, cfg)}
}

func (e *edge) post(client *http.Client, body string) (*http.Response, []byte, error) {
	req, err := http.NewRequest("POST", e.URL+"/api/mind/telephony/callReceived", strings.NewReader(body))
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
	req, err := http.NewRequest("GET", e.URL+path, nil)
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
