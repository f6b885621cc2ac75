package bench

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
)

// CallReceivedPath is the only route the generator uses, so it works
// against central enneo as well as the edge.
const CallReceivedPath = "/api/mind/telephony/callReceived"

// Target is one server to measure.
type Target struct {
	// Name labels the target in reports and plots.
	Name string
	// URL is the server's base URL (http://host:port), its /api/mind base,
	// or the full callReceived URL.
	URL string
	// Token is sent as Authorization: Bearer; empty sends none.
	Token string
}

// Options shape a run.
type Options struct {
	// Rate is requests per second on a fixed schedule; 0 means closed
	// model (each connection sends as soon as its previous answer came),
	// which measures saturation throughput but not honest latency.
	Rate float64
	// Duration is the length of the schedule (or of a closed-model run).
	Duration time.Duration
	// Requests, when positive, overrides Rate·Duration as the number of
	// requests planned (closed model: stop after this many).
	Requests int64
	// Concurrency is the number of connections, so the most requests in
	// flight at once.
	Concurrency int
	// Timeout bounds one request; it is also how long a run waits past its
	// schedule for requests that could not be sent in time.
	Timeout time.Duration
	// Mix is the request bodies; nil means DefaultMix.
	Mix *Mix
	// Seed fixes the sequence of bodies: the same seed gives every target
	// the same sequence.
	Seed uint64
	// Progress, when set, is called about once a second during the run.
	Progress func(Progress)
}

// Progress is the live state of a run.
type Progress struct {
	Target  string
	Elapsed time.Duration
	Planned int64
	Sent    int64
	OK      int64
	Errors  int64
}

// Histogram range: 1 µs to 60 s at 3 significant digits.
const (
	histMin     = int64(time.Microsecond)
	histMax     = int64(60 * time.Second)
	histSigFigs = 3
)

func newHist() *hdr.Histogram { return hdr.New(histMin, histMax, histSigFigs) }

func record(h *hdr.Histogram, d time.Duration) {
	v := int64(d)
	if v < histMin {
		v = histMin
	}
	if v > histMax {
		v = histMax
	}
	_ = h.RecordValue(v)
}

// ResolveURL turns a base URL into the callReceived URL.
func ResolveURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("url %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("url %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("url %q: no host", raw)
	}
	p := strings.TrimSuffix(u.Path, "/")
	switch {
	case strings.HasSuffix(p, "/callReceived"):
	case strings.HasSuffix(p, "/api/mind"):
		p += "/telephony/callReceived"
	default:
		p += CallReceivedPath
	}
	u.Path = p
	return u.String(), nil
}

func (o *Options) check() error {
	switch {
	case o.Rate < 0:
		return fmt.Errorf("rate: %v is negative", o.Rate)
	case o.Duration <= 0 && o.Requests <= 0:
		return errors.New("duration: must be positive")
	case o.Concurrency < 1:
		return fmt.Errorf("concurrency: %d is less than 1", o.Concurrency)
	case o.Timeout <= 0:
		return errors.New("timeout: must be positive")
	}
	return nil
}

// tally collects the results of every connection. One lock is cheap at
// the rates a PBX produces and keeps memory flat: an HDR histogram is
// ~140 KB, too much to keep one per connection.
type tally struct {
	mu     sync.Mutex
	hist   *hdr.Histogram // latency of successful requests
	lag    *hdr.Histogram // how late the generator sent (its own health)
	errors map[string]int64
	sample map[string]string
	kinds  []int64
}

func (t *tally) ok(lat, lag time.Duration) {
	t.mu.Lock()
	record(t.hist, lat)
	record(t.lag, lag)
	t.mu.Unlock()
}

func (t *tally) fail(kind, sample string) {
	t.mu.Lock()
	t.errors[kind]++
	if _, seen := t.sample[kind]; !seen && sample != "" {
		t.sample[kind] = sample
	}
	t.mu.Unlock()
}

// Run sends the schedule to one target and returns its results. Cancelling
// ctx stops sending; requests already sent are awaited.
func Run(ctx context.Context, t Target, o Options) (*Result, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	full, err := ResolveURL(t.URL)
	if err != nil {
		return nil, err
	}
	if o.Mix == nil {
		o.Mix = DefaultMix()
	}
	planned := o.Requests
	if planned <= 0 && o.Rate > 0 {
		planned = int64(o.Rate * o.Duration.Seconds())
	}
	if o.Rate > 0 && planned < 1 {
		return nil, fmt.Errorf("rate %v × duration %v plans no request", o.Rate, o.Duration)
	}
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)
	bs, err := newBodies(o.Mix, o.Seed, ChannelPrefix+runID+"-")
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(full)
	client := &fasthttp.HostClient{
		Addr:                          hostPort(u),
		IsTLS:                         u.Scheme == "https",
		MaxConns:                      o.Concurrency,
		ReadTimeout:                   o.Timeout,
		WriteTimeout:                  o.Timeout,
		MaxIdleConnDuration:           time.Minute,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		MaxConnWaitTimeout:            o.Timeout,
	}
	defer client.CloseIdleConnections()
	auth := ""
	if t.Token != "" {
		auth = "Bearer " + t.Token
	}

	var next, sent, ok, failed atomic.Int64
	interval := time.Duration(0)
	if o.Rate > 0 {
		interval = time.Duration(float64(time.Second) / o.Rate)
	}
	start := time.Now()
	// Requests not sent by the end of the schedule plus one timeout are
	// counted, not silently dropped: the target fell that far behind. A
	// closed model simply stops at the end of its duration, if it has one.
	deadline := start.Add(time.Duration(planned)*interval + o.Timeout)
	if o.Rate == 0 {
		deadline = start.Add(o.Duration)
		if o.Duration <= 0 {
			deadline = start.Add(100 * 365 * 24 * time.Hour)
		}
	}

	tl := &tally{hist: newHist(), lag: newHist(), errors: map[string]int64{}, sample: map[string]string{},
		kinds: make([]int64, len(bs.names))}
	var wg sync.WaitGroup
	for range o.Concurrency {
		wg.Go(func() {
			body := make([]byte, 0, 2048)
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(full)
			req.Header.SetMethod(fasthttp.MethodPost)
			req.Header.SetContentType("application/json")
			if auth != "" {
				req.Header.Set(fasthttp.HeaderAuthorization, auth)
			}
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if planned > 0 && i >= planned {
					return
				}
				due := time.Now()
				from := due // latency is measured from here
				if interval > 0 {
					due = start.Add(time.Duration(i) * interval)
					from = due
					if d := time.Until(due); d > 0 {
						if !sleep(ctx, d) {
							return
						}
						// This connection was idle and waited for the
						// request's turn: how late its timer fired is the
						// generator's wake-up, not the target's latency.
						// A request that was already overdue (every
						// connection busy) keeps counting from when it was
						// due: that is the queueing an open model shows.
						from = time.Now()
					}
				}
				now := time.Now()
				if !now.Before(deadline) {
					if interval == 0 {
						return
					}
					tl.fail(kindNotSent, "")
					failed.Add(1)
					continue
				}
				var entry int
				body, entry = bs.appendBody(body[:0], i)
				tl.mu.Lock()
				tl.kinds[entry]++
				tl.mu.Unlock()
				req.SetBodyRaw(body)
				sent.Add(1)
				err := client.Do(req, resp)
				end := time.Now()
				if kind := classify(resp, err); kind != "" {
					tl.fail(kind, sampleOf(resp, err))
					failed.Add(1)
					continue
				}
				tl.ok(end.Sub(from), now.Sub(due))
				ok.Add(1)
			}
		})
	}

	stop := make(chan struct{})
	if o.Progress != nil {
		go func() {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					o.Progress(Progress{Target: t.Name, Elapsed: time.Since(start), Planned: planned,
						Sent: sent.Load(), OK: ok.Load(), Errors: failed.Load()})
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stop)

	res := &Result{
		Name: t.Name, URL: full, Rate: o.Rate, Duration: o.Duration, Concurrency: o.Concurrency,
		Planned: planned, Sent: sent.Load(), OK: ok.Load(), Elapsed: elapsed,
		Errors: tl.errors, ErrorSamples: tl.sample, Mix: map[string]int64{},
		hist: tl.hist, lag: tl.lag,
	}
	if planned <= 0 {
		res.Planned = res.Sent
	}
	for j, n := range tl.kinds {
		res.Mix[bs.names[j]] += n
	}
	if ctx.Err() != nil {
		res.Interrupted = true
	}
	res.summarise()
	return res, nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return u.Host + ":443"
	}
	return u.Host + ":80"
}
