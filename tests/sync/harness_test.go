// Package sync runs the real enneo-edge binary against a second real
// process upstream (a hub enneo-edge, or an HTTP server of the test's own
// that records what arrives and misbehaves on demand) and checks that
// every accepted record reaches it, in order per ticket, exactly once.
package sync

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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
	path := filepath.Join(c.dir, "enneo-edge.toml")
	cfg := fmt.Sprintf(`[server]
listen = %q
[storage]
path = %q
[site]
id = %d
[auth]
tokens = [%q]
`, c.listen, filepath.Join(c.dir, "edge.db"), c.site, c.token)
	if c.upstreamURL != "" {
		cfg += fmt.Sprintf(`[upstream]
url = %q
token = %q
workers = %d
timeout = "3s"
backoff_min = "5ms"
backoff_max = "100ms"
paused_retry = "100ms"
max_attempts = 3
%s`, c.upstreamURL, hubToken, c.workers, c.extra)
	}
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func start(t *testing.T, cfg, token string) *proc {
	t.Helper()
	return &proc{Proc: edgetest.Start(t, binary, cfg), token: token}
}

func (p *proc) stop(t *testing.T) { p.Stop(t) }

func (p *proc) kill(t *testing.T) { p.Kill(t) }

// call posts a callReceived and returns the ticket ID of a 200, 0 else.
func (p *proc) call(client *http.Client, body string) (int64, error) {
	req, err := http.NewRequest("POST", p.URL+"/api/mind/telephony/callReceived", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		return 0, fmt.Errorf("callReceived: %d %s %v", resp.StatusCode, b, err)
	}
	var a struct {
		TicketID int64 `json:"ticketId"`
	}
	if err := json.Unmarshal(b, &a); err != nil || a.TicketID == 0 {
		return 0, fmt.Errorf("callReceived answer %s: %v", b, err)
	}
	return a.TicketID, nil
}

// get decodes a JSON answer of the edge API into v.
func (p *proc) get(t *testing.T, path string, v any) {
	t.Helper()
	req, err := http.NewRequest("GET", p.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, b)
	}
}

// outboxView is the part of GET /edge/v1/outbox the tests read.
type outboxView struct {
	Outbox struct {
		Pending     int64 `json:"pending"`
		DeadLetters int64 `json:"deadLetters"`
		Paused      *struct {
			Status int    `json:"status"`
			Reason string `json:"reason"`
		} `json:"paused"`
	} `json:"outbox"`
	Forwarder *struct {
		InFlight  int    `json:"inFlight"`
		Paused    bool   `json:"paused"`
		LastError string `json:"lastError"`
	} `json:"forwarder"`
	DeadLetters []struct {
		Seq      uint64 `json:"seq"`
		Status   int    `json:"status"`
		Reason   string `json:"reason"`
		Attempts int    `json:"attempts"`
		Record   struct {
			Kind string          `json:"kind"`
			Body json.RawMessage `json:"body"`
		} `json:"record"`
	} `json:"deadLetters"`
}

func (p *proc) outbox(t *testing.T) outboxView {
	t.Helper()
	var v outboxView
	p.get(t, "/edge/v1/outbox", &v)
	return v
}

func (p *proc) waitDrained(t *testing.T, limit time.Duration) {
	t.Helper()
	edgetest.WaitFor(t, "the outbox to drain", limit, func() bool {
		v := p.outbox(t)
		return v.Outbox.Pending == 0 && (v.Forwarder == nil || v.Forwarder.InFlight == 0)
	})
}

// freePort reserves a loopback port for an upstream that starts later.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
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
