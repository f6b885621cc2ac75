package upstream

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/enneo-edge/enneo-edge/clock"
	"github.com/enneo-edge/enneo-edge/db"
)

// maxDirectoryBytes bounds a pull's answer: thousands of agents with
// their skills, not an unbounded download.
const maxDirectoryBytes = 16 << 20

// Puller keeps the edge's copy of central's agents, skills and phone
// lines: every interval it reads them and stores them durably, so the edge
// routes on the last-known copy through an outage and after a restart.
// Build it with NewPuller, start it with Run, stop it by cancelling Run's
// context and calling Close.
type Puller struct {
	store    DirectoryStore
	client   *http.Client
	log      *slog.Logger
	clock    clock.Clock
	opt      Options
	interval time.Duration
	stopped  chan struct{}
	once     sync.Once

	mu      sync.Mutex
	lastErr string
	lastTry time.Time
}

// NewPuller builds a puller that reads from central every interval with
// the forwarder's URL and credentials; clk may be nil for the wall clock.
func NewPuller(store DirectoryStore, client *http.Client, log *slog.Logger, clk clock.Clock, o Options, interval time.Duration) *Puller {
	o.defaults()
	return &Puller{store: store, client: client, log: log, clock: clock.Or(clk), opt: o, interval: interval, stopped: make(chan struct{})}
}

// Run pulls at once and then every interval until ctx ends.
func (p *Puller) Run(ctx context.Context) {
	defer p.once.Do(func() { close(p.stopped) })
	for {
		if err := p.Pull(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("directory: pull from central failed; routing goes on with the last-known copy", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-p.clock.After(p.interval):
		}
	}
}

// Close waits for Run to return; cancel Run's context first.
func (p *Puller) Close() { <-p.stopped }

// LastError is the last pull's failure, "" after a success.
func (p *Puller) LastError() (string, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr, p.lastTry
}

// Pull reads agents and lines once and stores them. Both must be read for
// either to be stored: half a directory would route on a mix.
func (p *Puller) Pull(ctx context.Context) error {
	err := p.pull(ctx)
	p.mu.Lock()
	p.lastErr, p.lastTry = "", p.clock.Now()
	if err != nil {
		p.lastErr = err.Error()
	}
	p.mu.Unlock()
	return err
}

func (p *Puller) pull(ctx context.Context) error {
	raw, err := p.get(ctx, "/telephony/routingAvailability")
	if err != nil {
		return err
	}
	agents, skippedAgents, err := ParseAgents(raw)
	if err != nil {
		return err
	}
	raw, err = p.get(ctx, "/settings/subchannel?channels[]=phone")
	if err != nil {
		return err
	}
	lines, skippedLines, err := ParseLines(raw)
	if err != nil {
		return err
	}
	if skippedAgents+skippedLines > 0 {
		p.log.Warn("directory: entries without an ID skipped", "agents", skippedAgents, "lines", skippedLines)
	}
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	st, err := p.store.ReplaceDirectory(wctx, db.Directory{Agents: agents, Lines: lines})
	if err != nil {
		return fmt.Errorf("store directory: %w", err)
	}
	p.log.Debug("directory: pulled from central", "agents", st.Agents, "lines", st.Lines)
	return nil
}

func (p *Puller) get(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opt.Timeout)
	defer cancel()
	req, err := newRequest(ctx, &p.opt, http.MethodGet, path, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, unwrapURL(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxDirectoryBytes))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read answer: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: central answered %d: %s", path, resp.StatusCode, oneLine(string(raw), 200))
	}
	return raw, nil
}
