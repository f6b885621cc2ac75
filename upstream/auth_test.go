package upstream

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPauseEndsOnlyByAProbeSentDuringIt: a request sent before central
// started refusing the token, answered 200 late, says nothing about the
// token now; only a probe sent during the pause may end it.
func TestPauseEndsOnlyByAProbeSentDuringIt(t *testing.T) {
	release := make(chan struct{})
	var tokenBad atomic.Bool
	tokenBad.Store(true)
	var next atomic.Int64
	next.Store(100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		if strings.Contains(string(raw), `"slow"`) {
			<-release // sent before the pause, answered after it
		} else if tokenBad.Load() {
			http.Error(w, `{"error":"token revoked"}`, http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"success": true, "ticketId": next.Add(1)})
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	s := newStore(t)
	newCall(t, s, "slow")
	o := fastOptions(srv.URL + "/api/mind")
	o.PausedRetry = time.Second
	f := startForwarder(t, s, nil, o)
	waitFor(t, "the slow request in flight", func() bool { return f.Status().InFlight >= 1 })
	newCall(t, s, "fast")
	waitFor(t, "the pause", func() bool { return f.Status().Paused })
	tokenBad.Store(false)
	close(release)
	waitFor(t, "the slow call delivered", func() bool { return f.Status().Delivered == 1 })
	if !f.Status().Paused {
		t.Fatal("a late answer to a request sent before the pause ended it")
	}
	waitFor(t, "the probe to end the pause", func() bool { return !f.Status().Paused })
	waitFor(t, "everything delivered", func() bool { return pending(t, s).Pending == 0 })
}

// TestCredentialHeaders: upstream.auth picks Authorization: Bearer,
// x-internal-communication-token or both; every record carries an
// Idempotency-Key of its own.
func TestCredentialHeaders(t *testing.T) {
	for _, tc := range []struct{ auth, bearer, internal string }{
		{AuthBearer, "Bearer " + centralToken, ""},
		{AuthInternal, "", "internal-secret-0123456789"},
		{AuthBoth, "Bearer " + centralToken, "internal-secret-0123456789"},
	} {
		t.Run(tc.auth, func(t *testing.T) {
			var (
				mu   sync.Mutex
				seen []http.Header
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seen = append(seen, r.Header.Clone())
				mu.Unlock()
				_, _ = w.Write([]byte(`{"success":true,"ticketId":77}`))
			}))
			t.Cleanup(srv.Close)
			s := newStore(t)
			newCall(t, s, "h-1")
			newCall(t, s, "h-2")
			o := fastOptions(srv.URL + "/api/mind")
			o.Auth, o.InternalToken = tc.auth, "internal-secret-0123456789"
			startForwarder(t, s, nil, o)
			waitFor(t, "delivery", func() bool { return pending(t, s).Pending == 0 })
			mu.Lock()
			defer mu.Unlock()
			keys := map[string]bool{}
			for _, h := range seen {
				if h.Get("Authorization") != tc.bearer || h.Get("X-Internal-Communication-Token") != tc.internal {
					t.Errorf("headers %v, want bearer %q internal %q", h, tc.bearer, tc.internal)
				}
				keys[h.Get("Idempotency-Key")] = true
			}
			if len(keys) != len(seen) || keys[""] {
				t.Errorf("Idempotency-Keys %v for %d requests", keys, len(seen))
			}
		})
	}
}
