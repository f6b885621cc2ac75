// Package sync runs the real enneo-edge binary against a second real
// process upstream (a hub enneo-edge, or an HTTP server of the test's own
// that records what arrives and misbehaves on demand) and checks that
// every accepted record reaches it, in order per ticket, exactly once.
package sync

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	gosync "sync"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/edgetest"
)

const (
	edgeToken = "sync-edge-token-0123456789"
	hubToken  = "sync-hub-token-0123456789"
)

var binary string

func TestMain(m *testing.M) { edgetest.Main(m, "../..", &binary) }

// proc is one running enneo-edge process and the token it accepts.
type proc struct {
	*edgetest.Proc
	token string
}

// config is what a test sets in a process's config file.
type config struct {
	dir         string
	listen      string // "" = a free loopback port
	site        int
	token       string
	upstreamURL string // "" = air-gapped (a hub)
	workers     int
	extra       string // more [upstream] keys
}

func writeConfig(t *testing.T, c config) string {
	t.Helper()
	if c.workers == 0 {
		c.workers = 4
	}
	if c.listen == "" {
		c.listen = "127.0.0.1:0"
	}
	cfg := edgetest.Config{
		Listen: c.listen,
		DB:     filepath.Join(c.dir, "edge.db"),
		Site:   c.site,
		Token:  c.token,
	}
	if c.upstreamURL != "" {
		cfg.Upstream = &edgetest.Upstream{
			URL: c.upstreamURL, Token: hubToken, Workers: c.workers, Timeout: "3s",
			BackoffMin: "5ms", BackoffMax: "100ms", PausedRetry: "100ms",
			Extra: "max_attempts = 3\n" + c.extra,
		}
	}
	return edgetest.WriteConfig(t, filepath.Join(c.dir, "enneo-edge.toml"), cfg)
}

func start(t *testing.T, cfg, token string) *proc {
	t.Helper()
	return &proc{Proc: edgetest.Start(t, binary, cfg), token: token}
}

func (p *proc) stop(t *testing.T) { p.Stop(t) }

func (p *proc) kill(t *testing.T) { p.Kill(t) }

// call posts a callReceived and returns the ticket ID of a 200, 0 else.
func (p *proc) call(client *http.Client, body string) (int64, error) {
	a, err := edgetest.Do(client, p.URL, p.token, "POST", "/api/mind/telephony/callReceived", body)
	if err != nil {
		return 0, err
	}
	if a.Code != http.StatusOK {
		return 0, fmt.Errorf("callReceived: %d %s", a.Code, a.Raw)
	}
	var v struct {
		TicketID int64 `json:"ticketId"`
	}
	if err := json.Unmarshal(a.Raw, &v); err != nil || v.TicketID == 0 {
		return 0, fmt.Errorf("callReceived answer %s: %v", a.Raw, err)
	}
	return v.TicketID, nil
}

// get decodes a JSON answer of the edge API into v.
func (p *proc) get(t *testing.T, path string, v any) {
	t.Helper()
	a, err := edgetest.Do(http.DefaultClient, p.URL, p.token, "GET", path, "")
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if a.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, a.Code, a.Raw)
	}
	if err := json.Unmarshal(a.Raw, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, a.Raw)
	}
}

func (p *proc) outbox(t *testing.T) edgetest.Outbox {
	t.Helper()
	var v edgetest.Outbox
	p.get(t, "/edge/v1/outbox", &v)
	return v
}

func (p *proc) waitDrained(t *testing.T, limit time.Duration) {
	t.Helper()
	edgetest.WaitDrained(t, limit, func() edgetest.Outbox { return p.outbox(t) })
}

// send posts n calls from clients goroutines, channelIds prefix-0..n-1,
// and returns the acknowledged ticket ID of each channel.
func send(t *testing.T, p *proc, n, clients int, prefix string, body func(ch string, i int) string) map[string]int64 {
	t.Helper()
	var (
		mu   gosync.Mutex
		acks = make(map[string]int64, n)
		wg   gosync.WaitGroup
		next = make(chan int)
		errs = make(chan error, clients)
	)
	for range clients {
		wg.Go(func() {
			client := &http.Client{Timeout: 10 * time.Second}
			for i := range next {
				ch := fmt.Sprintf("%s-%d", prefix, i)
				id, err := p.call(client, body(ch, i))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				acks[ch] = id
				mu.Unlock()
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case err := <-errs:
			close(next)
			wg.Wait()
			t.Fatalf("sending calls: %v", err)
			break feed
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatalf("sending calls: %v", err)
	default:
	}
	return acks
}

func nativeCall(ch string, i int) string {
	return fmt.Sprintf(`{"routing":"native","channelId":%q,"phone":"+4930%07d","transcript":[{"speaker":"customer","message":"hello %d"}]}`, ch, i, i)
}
