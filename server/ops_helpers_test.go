package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/auth"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/phone"
)

// opsConfig shapes an env for the operations tests: a capped file, a
// commit loop that starts only when the test says so, a hook on the file.
type opsConfig struct {
	maxSize    int64
	maxPending int
	holdCommit bool // start the commit loop only when startCommits is called
	openFile   func(string, int, os.FileMode) (*os.File, error)
	srvOpts    []Option
}

type opsEnv struct {
	*env
	metrics      *Metrics
	startCommits func()
}

func newOpsEnv(t *testing.T, c opsConfig) *opsEnv {
	t.Helper()
	m := NewMetrics()
	store, err := db.Open(filepath.Join(t.TempDir(), "edge.db"), db.Options{
		SiteID: 7, MaxSize: c.maxSize, OpenFile: c.openFile, OnCommit: m.ObserveCommit,
		OnLogSync: m.ObserveLogSync, OnCheckpoint: m.ObserveCheckpoint})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	start := func() { go store.Run(ctx) }
	if !c.holdCommit {
		start()
		start = func() {}
	}
	a, err := auth.New(auth.Options{Tokens: []string{testToken}})
	if err != nil {
		t.Fatal(err)
	}
	pn, err := phone.NewNormalizer("DE")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := New(store, a, pn, log, Limits{ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		IdleTimeout: time.Minute, MaxBodyBytes: 1 << 20, ReadBufferBytes: 16 << 10, MaxConnections: 1024,
		MaxPendingCommits: c.maxPending}, append([]Option{WithMetrics(m), WithVersion("test", "abc123")}, c.srvOpts...)...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(func() {
		start() // a held commit loop must run for Close to return
		tr.CloseIdleConnections()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		cancel()
		_ = store.Close()
	})
	return &opsEnv{
		env:          &env{t: t, url: "http://" + ln.Addr().String(), store: store, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}},
		metrics:      m,
		startCommits: start,
	}
}

// scrape fetches /metrics and returns its text.
func (e *env) scrape() string {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.url+"/metrics", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		e.t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}
