package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/enneo-edge/enneo-edge/auth"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/phone"
)

// benchServer is the real server on a loopback port over a real bbolt
// file, for the end-to-end benchmarks.
func benchServer(b *testing.B) (url string, store *db.Store) {
	b.Helper()
	store, err := db.Open(filepath.Join(b.TempDir(), "edge.db"), db.Options{SiteID: 7})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go store.Run(ctx)
	a, err := auth.New(auth.Options{Tokens: []string{testToken}})
	if err != nil {
		b.Fatal(err)
	}
	pn, err := phone.NewNormalizer("DE")
	if err != nil {
		b.Fatal(err)
	}
	srv := New(store, a, pn, slog.New(slog.NewTextHandler(io.Discard, nil)), Limits{ReadTimeout: 5 * time.Second,
		WriteTimeout: 5 * time.Second, IdleTimeout: time.Minute, MaxBodyBytes: 1 << 20, ReadBufferBytes: 16 << 10, MaxConnections: 1024})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() {
		_ = srv.Shutdown(context.Background())
		cancel()
		if err := store.Close(); err != nil {
			b.Error(err)
		}
	})
	return "http://" + ln.Addr().String() + "/api/mind/telephony/callReceived", store
}

const benchBody = `{"routing":"native","direction":"in","phone":"+49 171 1234567","subchannelId":2,"channelId":"bench-`

// BenchmarkCallReceived is the handler end to end over loopback HTTP:
// auth, decode, phone normalisation, the durable commit and the answer.
// allocs/op include the client's; serial pays one commit per call,
// parallel shares them (commits/call).
func BenchmarkCallReceived(b *testing.B) {
	for _, par := range []int{1, 64} {
		b.Run("clients="+strconv.Itoa(par), func(b *testing.B) {
			url, store := benchServer(b)
			client := &fasthttp.Client{MaxConnsPerHost: 4 * par, MaxConnWaitTimeout: 5 * time.Second}
			var n atomic.Int64
			c0, w0 := store.CommitStats()
			b.ReportAllocs()
			b.SetParallelism(par)
			if par == 1 {
				// One PBX channel: b.Loop, not RunParallel, which starts
				// GOMAXPROCS goroutines even at parallelism 1.
				send := caller(b, url, client, &n)
				for b.Loop() {
					if !send() {
						return
					}
				}
			} else {
				b.RunParallel(func(pb *testing.PB) {
					send := caller(b, url, client, &n)
					for pb.Next() {
						if !send() {
							return
						}
					}
				})
			}
			if c, w := store.CommitStats(); w > w0 {
				b.ReportMetric(float64(c-c0)/float64(w-w0), "commits/call")
			}
		})
	}
}

// caller returns a function that sends one call with a fresh channelId.
func caller(b *testing.B, url string, client *fasthttp.Client, n *atomic.Int64) func() bool {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	b.Cleanup(func() { fasthttp.ReleaseRequest(req); fasthttp.ReleaseResponse(resp) })
	req.SetRequestURI(url)
	req.Header.SetMethod("POST")
	req.Header.Set("Authorization", "Bearer "+testToken)
	var body []byte
	return func() bool {
		body = append(append(append(body[:0], benchBody...), strconv.FormatInt(n.Add(1), 10)...), `"}`...)
		req.SetBodyRaw(body)
		if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			b.Errorf("%v %d %s", err, resp.StatusCode(), resp.Body())
			return false
		}
		return true
	}
}

// BenchmarkCallReceivedHandler runs the router and handler without the
// network, 64 callers at once, so allocs/op are the server's alone.
func BenchmarkCallReceivedHandler(b *testing.B) {
	h := newHandler(b, 7, 0)
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		var rc fasthttp.RequestCtx
		var req fasthttp.Request
		var body []byte
		for pb.Next() {
			req.Reset()
			req.SetRequestURI("/api/mind/telephony/callReceived")
			req.Header.SetMethod("POST")
			req.Header.Set("Authorization", "Bearer "+testToken)
			body = append(append(append(body[:0], benchBody...), strconv.FormatInt(n.Add(1), 10)...), `"}`...)
			req.SetBodyRaw(body)
			rc.Init(&req, nil, nil)
			h(&rc)
			if rc.Response.StatusCode() != 200 {
				b.Errorf("%d %s", rc.Response.StatusCode(), rc.Response.Body())
				return
			}
		}
	})
}
