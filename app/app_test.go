package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/config"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/internal/edgetest"
)

// lines is an io.Writer a test can read while the app writes to it.
type lines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Storage.Path = filepath.Join(t.TempDir(), "edge.db")
	cfg.Storage.MaxSizeBytes = 0
	cfg.Auth.Tokens = []config.Token{{Token: "app-test-token-0123456789", Role: "admin"}}
	return cfg
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestRunServesUntilContextEndsThenCloseReleasesEverything: the app
// answers once Run has started, Run returns nil when its context ends
// (after draining), and Close leaves the database file unlocked and the
// port free, so the next start can take both.
func TestRunServesUntilContextEndsThenCloseReleasesEverything(t *testing.T) {
	cfg := testConfig(t)
	out := &lines{}
	prechecked := ""
	a, err := New(cfg, Options{Log: quietLog(), Stdout: out, Precheck: func(p string) error { prechecked = p; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if prechecked != cfg.Storage.Path {
		t.Fatalf("precheck ran on %q, want %q", prechecked, cfg.Storage.Path)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx) }()
	var url string
	edgetest.WaitFor(t, "the listening line", 10*time.Second, func() bool {
		m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(out.String())
		if m != nil {
			url = m[1]
		}
		return url != ""
	})
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %d", resp.StatusCode)
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatalf("Run after its context ended: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	store, err := db.Open(cfg.Storage.Path, db.Options{SiteID: 1, OpenTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("database still held after Close: %v", err)
	}
	_ = store.Close()
	ln, err := net.Listen("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatalf("port still bound after Close: %v", err)
	}
	ln.Close()
}

// TestFailedNewClosesWhatItOpened: when the bind fails, New has already
// opened the database; it closes it again, so nothing stays locked.
func TestFailedNewClosesWhatItOpened(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(t)
	cfg.Server.Listen = busy.Addr().String()
	if _, err := New(cfg, Options{Log: quietLog()}); err == nil || !strings.Contains(err.Error(), "server.listen") {
		t.Fatalf("New on a busy port: %v", err)
	}
	store, err := db.Open(cfg.Storage.Path, db.Options{SiteID: 1, OpenTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("database still held after a failed New: %v", err)
	}
	_ = store.Close()
}

// TestPrecheckRefusalOpensNothing: a refused file is left as it was: no
// database is created and the port is not bound.
func TestPrecheckRefusalOpensNothing(t *testing.T) {
	cfg := testConfig(t)
	refused := errors.New("damaged")
	if _, err := New(cfg, Options{Log: quietLog(), Precheck: func(string) error { return refused }}); !errors.Is(err, refused) {
		t.Fatalf("New with a refusing precheck: %v", err)
	}
	if m, _ := filepath.Glob(cfg.Storage.Path + "*"); len(m) != 0 {
		t.Fatalf("a refused start created %v", m)
	}
}
