package edgetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"testing"
	"time"
)

// Answer is one reply of a running enneo-edge's HTTP API.
type Answer struct {
	Code int
	Raw  []byte
	// Body is Raw decoded as a JSON object with numbers kept as
	// json.Number (IDs are int64 and must not pass through float64); nil
	// when Raw is not an object.
	Body map[string]any
}

// Do sends one request with token as its bearer token and reads the whole
// answer; err is a transport error only: any status is an Answer, since
// the tests judge the status themselves (a 503 across a restart is
// retried, a 4xx may be what is checked).
func Do(client *http.Client, base, token, method, path, body string) (Answer, error) {
	req, err := http.NewRequest(method, base+path, bytes.NewBufferString(body))
	if err != nil {
		return Answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return Answer{}, err
	}
	a := Answer{Code: resp.StatusCode, Raw: raw}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&a.Body)
	return a, nil
}

// FreeAddr finds a free loopback port for a process that binds it moments
// later and must keep it across restarts (a config's fixed listen
// address, a peer address known in advance). It picks from below the
// kernel's ephemeral range (ip_local_port_range, 32768-60999 by default):
// a port released from there could be handed, before the process binds
// it, to any listener asking for port 0 (a test's proxy, the fake
// central, another package's test), which failed a CI run with "address
// already in use".
func FreeAddr(t testing.TB) string {
	t.Helper()
	for range 200 {
		port := freeAddrLow + rand.IntN(freeAddrHigh-freeAddrLow)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		return addr
	}
	t.Fatalf("no free loopback port in %d-%d", freeAddrLow, freeAddrHigh)
	return ""
}

// The ports FreeAddr picks from: below the ephemeral range.
const freeAddrLow, freeAddrHigh = 20000, 32000

// Outbox is the part of GET /edge/v1/outbox the process tests read.
type Outbox struct {
	Outbox struct {
		Pending     int64 `json:"pending"`
		DeadLetters int64 `json:"deadLetters"`
		Paused      *struct {
			Status int    `json:"status"`
			Reason string `json:"reason"`
		} `json:"paused"`
	} `json:"outbox"`
	// Forwarder is nil on a process without [upstream].
	Forwarder *struct {
		InFlight  int    `json:"inFlight"`
		Paused    bool   `json:"paused"`
		LastError string `json:"lastError"`
		Lookups   int64  `json:"lookups"`
		Found     int64  `json:"lookupsFound"`
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

// Drained tells whether upstream has everything the outbox held: nothing
// pending and nothing on its way.
func (o Outbox) Drained() bool {
	return o.Outbox.Pending == 0 && (o.Forwarder == nil || o.Forwarder.InFlight == 0)
}

// WaitDrained polls read every 50 ms until the outbox is drained and
// returns that view; it fails the test when limit passes first.
func WaitDrained(t testing.TB, limit time.Duration, read func() Outbox) Outbox {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		v := read()
		if v.Drained() {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox not drained after %s: %+v", limit, v.Outbox)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
