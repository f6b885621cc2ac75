package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/db"
)

// BenchmarkCallsDuringSlowBackup measures call latency in one run, first
// without and then with a backup read at 1 KB/s, while the file keeps
// growing (1 MiB records twice a second, so it crosses bbolt's map
// sizes). 4 clients send 50 calls/s in all. It reports p50/p99 of each
// phase and the calls that failed; BENCHMARKS.md has the numbers.
//
//	go test ./server -run '^$' -bench CallsDuringSlowBackup -benchtime 1x
func BenchmarkCallsDuringSlowBackup(b *testing.B) {
	const phase = 10 * time.Second
	for range b.N {
		e := newEnvLogged(b, db.Options{SiteID: 7}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil,
			func(_ *authOptions, l *Limits) { l.CommitTimeout = 3 * time.Second })
		big := []byte(`"` + strings.Repeat("x", 1<<20) + `"`)
		for range 24 {
			if _, err := e.store.AppendOutbox(context.Background(), db.OutboxRecord{Kind: db.KindRoutingStatus, UserID: 1, Body: big}); err != nil {
				b.Fatal(err)
			}
		}
		run := func(name string) {
			stop := make(chan struct{})
			var grow sync.WaitGroup
			grow.Add(1)
			go func() {
				defer grow.Done()
				for {
					select {
					case <-stop:
						return
					case <-time.After(500 * time.Millisecond):
					}
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					_, _ = e.store.AppendOutbox(ctx, db.OutboxRecord{Kind: db.KindRoutingStatus, UserID: 1, Body: big})
					cancel()
				}
			}()
			lat, failed := callLoad(b, e, name, phase)
			close(stop)
			grow.Wait()
			slices.Sort(lat)
			p := func(q float64) float64 {
				if len(lat) == 0 {
					return 0
				}
				return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000
			}
			b.ReportMetric(p(0.5), name+"-p50-ms")
			b.ReportMetric(p(0.99), name+"-p99-ms")
			b.ReportMetric(float64(failed), name+"-failed")
		}
		run("alone")
		req, _ := http.NewRequest("GET", e.url+"/edge/v1/backup", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := e.client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			buf := make([]byte, 1024)
			for {
				select {
				case <-done:
					return
				case <-time.After(time.Second):
				}
				if _, err := resp.Body.Read(buf); err != nil {
					return
				}
			}
		}()
		run("slowbackup")
		close(done)
		resp.Body.Close()
	}
}

// callLoad sends 50 calls/s from 4 clients for d and returns the
// latencies of all calls and the count of those not answered 200.
func callLoad(b *testing.B, e *env, name string, d time.Duration) ([]time.Duration, int) {
	var (
		mu     sync.Mutex
		lat    []time.Duration
		failed int
		wg     sync.WaitGroup
	)
	end := time.Now().Add(d)
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(80 * time.Millisecond) // 12.5/s per client
			defer tick.Stop()
			for i := 0; time.Now().Before(end); i++ {
				<-tick.C
				body := `{"routing":"none","phone":"+491234567890","channelId":"` + name + "-" + strconv.Itoa(c) + "-" + strconv.Itoa(i) + `"}`
				req, _ := http.NewRequest("POST", e.url+callReceivedPath, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+testToken)
				start := time.Now()
				resp, err := e.client.Do(req)
				took := time.Since(start)
				ok := err == nil && resp.StatusCode == 200
				if err == nil {
					resp.Body.Close()
				}
				mu.Lock()
				lat = append(lat, took) // a 503 after 3 s counts too
				if !ok {
					failed++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return lat, failed
}
