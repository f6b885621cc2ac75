package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/enneo-edge/enneo-edge/db"
)

// Options configure a Forwarder. Zero durations and counts take the
// defaults documented on each field.
type Options struct {
	// URL is central's API base, ending in /api/mind.
	URL string
	// Token is sent as Bearer on every request.
	Token string
	// Workers is how many records are in flight at once, each of a
	// different ticket (default 4).
	Workers int
	// Timeout bounds one request (default 10s).
	Timeout time.Duration
	// BackoffMin and BackoffMax bound the jittered exponential backoff
	// after transient failures (defaults 1s and 5m).
	BackoffMin, BackoffMax time.Duration
	// PausedRetry is how often a paused queue (401/403) probes central
	// (default 30s).
	PausedRetry time.Duration
	// MaxAttempts is how often a record central refuses with a 4xx is
	// tried before it is dead-lettered (default 3).
	MaxAttempts int
	// OnAnswer, when set, is told the status of every answer from central
	// (0 when none came: network error or timeout); it feeds the metrics.
	OnAnswer func(status int)
	// Poll is how often an idle forwarder looks for new records
	// (default 200ms).
	Poll time.Duration
	// Scan bounds how many outbox records one look reads (default 1024).
	Scan int
}

func (o *Options) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&o.Timeout, 10*time.Second)
	set(&o.BackoffMin, time.Second)
	set(&o.BackoffMax, 5*time.Minute)
	set(&o.PausedRetry, 30*time.Second)
	set(&o.Poll, 200*time.Millisecond)
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if o.Scan <= 0 {
		o.Scan = 1024
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = o.BackoffMin
	}
}

// Clock is the forwarder's time source; tests pass one they move by hand.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// RealClock is the wall clock.
var RealClock Clock = realClock{}

// breakerThreshold is how many transient failures in a row make the
// forwarder treat central as down: then it sends one probe at a time
// after a backoff instead of trying the whole backlog.
const breakerThreshold = 3

// writeTimeout bounds the forwarder's own commits.
const writeTimeout = 10 * time.Second

// Forwarder drains the outbox to central enneo: in order per ticket (and
// per user for presence), Workers tickets at a time. Build it with New,
// start it with Run, stop it by cancelling Run's context and calling Close.
type Forwarder struct {
	store  *db.Store
	client *http.Client
	log    *slog.Logger
	clock  Clock
	opt    Options

	wake    chan struct{}
	stopped chan struct{}
	running atomic.Bool

	mu       sync.Mutex
	busy     map[string]struct{}  // keys with a record in flight
	waiting  map[string]time.Time // keys backing off, until when
	failures int                  // transient failures in a row
	openTill time.Time            // central treated as down until then
	paused   *db.PauseState
	probeAt  time.Time // next probe while paused
	st       counters
}

type counters struct {
	delivered, retried, dead, parked int64
	lastSuccess                      time.Time
	lastError                        string
}

// New builds a forwarder. client may be nil for NewHTTPClient's; clock may
// be nil for the wall clock.
func New(store *db.Store, client *http.Client, log *slog.Logger, clock Clock, o Options) *Forwarder {
	o.defaults()
	if client == nil {
		client = NewHTTPClient(o.Workers, nil)
	}
	if clock == nil {
		clock = RealClock
	}
	return &Forwarder{
		store: store, client: client, log: log, clock: clock, opt: o,
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
		busy:    map[string]struct{}{},
		waiting: map[string]time.Time{},
	}
}

// NewHTTPClient is the client the forwarder uses by default: keep-alive
// connections for every worker, no redirects (a redirect means the URL is
// wrong, and following one would turn a POST into a GET).
func NewHTTPClient(workers int, tlsConfig *tls.Config) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:       tlsConfig,
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          workers * 2,
			MaxIdleConnsPerHost:   workers * 2,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Run forwards until ctx ends; requests in flight then are abandoned and
// their records stay pending (sent again after the restart).
func (f *Forwarder) Run(ctx context.Context) {
	if f.running.Swap(true) {
		return // Close came first
	}
	defer close(f.stopped)
	if p, err := f.store.Paused(); err != nil {
		f.log.Error("outbox: read pause state", "err", err)
	} else if p != nil {
		// Still paused from the last run: probe at once, the token may
		// have been fixed in the meantime.
		f.mu.Lock()
		f.paused, f.probeAt = p, f.clock.Now()
		f.mu.Unlock()
	}
	jobs := make(chan db.Ready)
	var wg sync.WaitGroup
	for range f.opt.Workers {
		wg.Go(func() {
			for rd := range jobs {
				f.forward(ctx, rd)
			}
		})
	}
	f.dispatch(ctx, jobs)
	close(jobs)
	wg.Wait()
}

// Close waits for Run to return; cancel Run's context first.
func (f *Forwarder) Close() {
	if f.running.Swap(true) {
		<-f.stopped
	}
}

// dispatch hands eligible records to the workers until ctx ends.
func (f *Forwarder) dispatch(ctx context.Context, jobs chan<- db.Ready) {
	for {
		n, wait := f.capacity()
		if n > 0 {
			snap := f.claimed()
			recs, err := f.store.NextOutbox(n, f.opt.Scan, func(k string) bool { _, ok := snap[k]; return ok })
			if err != nil {
				f.log.Error("outbox: read", "err", err)
				wait = f.opt.BackoffMin
			}
			for _, rd := range recs {
				f.mu.Lock()
				f.busy[rd.Key] = struct{}{}
				f.mu.Unlock()
				select {
				case jobs <- rd:
				case <-ctx.Done():
					return
				}
			}
			if len(recs) > 0 {
				continue // look again at once: more may be waiting
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
		case <-f.clock.After(wait):
		}
	}
}

// capacity says how many records may be started now and, when none, how
// long to wait before looking again.
func (f *Forwarder) capacity() (int, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now()
	free := f.opt.Workers - len(f.busy)
	switch {
	case free <= 0:
		return 0, f.opt.Poll
	case f.paused != nil:
		if len(f.busy) > 0 {
			return 0, f.opt.PausedRetry
		}
		if d := f.probeAt.Sub(now); d > 0 {
			return 0, d
		}
		return 1, f.opt.Poll
	case now.Before(f.openTill):
		return 0, f.openTill.Sub(now)
	case f.failures >= breakerThreshold:
		if len(f.busy) > 0 {
			return 0, f.opt.Poll // one probe at a time
		}
		return 1, f.opt.Poll
	}
	// Keys backing off come free on their own; look again by then.
	wait := f.opt.Poll
	for k, until := range f.waiting {
		if d := until.Sub(now); d <= 0 {
			delete(f.waiting, k)
		} else if d < wait {
			wait = d
		}
	}
	return free, wait
}

// claimed is a snapshot of the keys that must not be started: in flight or
// backing off.
func (f *Forwarder) claimed() map[string]struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now()
	m := make(map[string]struct{}, len(f.busy)+len(f.waiting))
	for k := range f.busy {
		m[k] = struct{}{}
	}
	for k, until := range f.waiting {
		if now.Before(until) {
			m[k] = struct{}{}
		}
	}
	return m
}

// forward sends one record and records the outcome; the record's key is
// released only after the outcome is committed, so the next look sees it.
func (f *Forwarder) forward(ctx context.Context, rd db.Ready) {
	defer func() {
		f.mu.Lock()
		delete(f.busy, rd.Key)
		f.mu.Unlock()
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}()
	r := rd.Record
	if r.Kind != db.KindCallReceived && r.Kind != db.KindRoutingStatus && rd.CentralID == 0 {
		f.park(rd)
		return
	}
	res := f.send(ctx, rd)
	if ctx.Err() != nil {
		return // shutting down: the record stays pending
	}
	wctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	switch res.outcome {
	case delivered:
		if err := f.store.MarkDelivered(wctx, r.Seq, res.centralID); err != nil {
			// Sent again later; central recognises the channelId.
			f.log.Error("outbox: mark delivered", "seq", r.Seq, "err", err)
			f.backoffKey(rd.Key, 1)
			return
		}
		f.succeeded()
		f.log.Debug("outbox: delivered", "seq", r.Seq, "kind", r.Kind, "centralId", res.centralID)
	case retry:
		f.failed(rd, res)
	case refused:
		f.refuse(rd, res)
	case pause:
		f.pause(wctx, res)
	}
}

func (f *Forwarder) succeeded() {
	f.mu.Lock()
	f.failures, f.openTill = 0, time.Time{}
	f.st.delivered++
	f.st.lastSuccess = f.clock.Now()
	wasPaused := f.paused != nil
	f.paused = nil
	f.mu.Unlock()
	if wasPaused {
		f.log.Info("outbox: central accepts our token again; forwarding resumed")
		wctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		defer cancel()
		if err := f.store.SetPaused(wctx, nil); err != nil {
			f.log.Error("outbox: clear pause state", "err", err)
		}
	}
}

// failed handles a transient failure: the record's key backs off, and
// after breakerThreshold failures in a row so does the whole queue.
func (f *Forwarder) failed(rd db.Ready, res result) {
	msg := res.describe()
	wctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	attempts, err := f.store.RecordFailure(wctx, rd.Record.Seq, res.status, msg)
	if err != nil {
		f.log.Error("outbox: record failure", "seq", rd.Record.Seq, "err", err)
	}
	f.mu.Lock()
	f.failures++
	f.st.retried++
	f.st.lastError = msg
	n := f.failures
	var global time.Duration
	if n >= breakerThreshold || res.status == http.StatusTooManyRequests {
		global = max(backoff(n-breakerThreshold, f.opt.BackoffMin, f.opt.BackoffMax, rand.Float64), res.retryAfter)
		f.openTill = f.clock.Now().Add(global)
	}
	f.repauseLocked()
	f.mu.Unlock()
	f.backoffKey(rd.Key, max(attempts, 1), res.retryAfter)
	f.log.Warn("outbox: central unreachable or failing; will retry", "seq", rd.Record.Seq, "kind", rd.Record.Kind,
		"attempts", attempts, "failuresInARow", n, "queueWaits", global.String(), "err", msg)
}

// repauseLocked keeps a paused queue paused after a probe that failed for
// another reason than the credentials: the next probe waits PausedRetry,
// instead of the rest of the backlog going out one record after another.
// f.mu must be held.
func (f *Forwarder) repauseLocked() {
	if f.paused != nil {
		f.probeAt = f.clock.Now().Add(f.opt.PausedRetry)
	}
}

// backoffKey keeps key's next record back for a jittered backoff after
// attempts failures (at least floor).
func (f *Forwarder) backoffKey(key string, attempts int, floor ...time.Duration) {
	d := backoff(attempts-1, f.opt.BackoffMin, f.opt.BackoffMax, rand.Float64)
	for _, fl := range floor {
		d = max(d, fl)
	}
	f.mu.Lock()
	f.waiting[key] = f.clock.Now().Add(d)
	f.mu.Unlock()
}

// refuse handles a 4xx about the record itself: try again a few times
// (central may have been mid-deploy), then dead-letter it.
func (f *Forwarder) refuse(rd db.Ready, res result) {
	msg := res.describe()
	wctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	attempts, err := f.store.RecordFailure(wctx, rd.Record.Seq, res.status, msg)
	if err != nil {
		f.log.Error("outbox: record failure", "seq", rd.Record.Seq, "err", err)
		f.backoffKey(rd.Key, 1)
		return
	}
	// A refusal is an answer: central is up.
	f.mu.Lock()
	f.failures, f.openTill = 0, time.Time{}
	f.st.lastError = msg
	f.repauseLocked()
	f.mu.Unlock()
	if attempts < f.opt.MaxAttempts {
		f.backoffKey(rd.Key, attempts)
		f.log.Warn("outbox: central refused record; will try again", "seq", rd.Record.Seq, "kind", rd.Record.Kind,
			"attempts", attempts, "of", f.opt.MaxAttempts, "err", msg)
		return
	}
	why := db.DeadReason{Status: res.status, Reason: msg, Response: res.body}
	if err := f.store.DeadLetter(wctx, rd.Record.Seq, why); err != nil {
		f.log.Error("outbox: dead-letter", "seq", rd.Record.Seq, "err", err)
		f.backoffKey(rd.Key, attempts)
		return
	}
	f.mu.Lock()
	f.st.dead++
	f.mu.Unlock()
	f.log.Error("outbox: record dead-lettered; see `enneo-edge outbox list`", "seq", rd.Record.Seq, "kind", rd.Record.Kind,
		"key", rd.Record.OrderKey(), "attempts", attempts, "status", res.status, "err", msg)
}

// park moves a follow-up whose ticket has no central ID (its callReceived
// is dead-lettered) beside that dead letter: sending it would hand central
// a local ID.
func (f *Forwarder) park(rd db.Ready) {
	why := db.DeadReason{Reason: "its ticket has no central ID (callReceived dead-lettered); retry that one", Parked: true}
	if rd.TicketState == "" {
		why = db.DeadReason{Reason: fmt.Sprintf("ticket %d is not stored at the edge", db.RecordTicket(rd.Record))}
	}
	wctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	if err := f.store.DeadLetter(wctx, rd.Record.Seq, why); err != nil {
		f.log.Error("outbox: park record", "seq", rd.Record.Seq, "err", err)
		f.backoffKey(rd.Key, 1)
		return
	}
	f.mu.Lock()
	f.st.parked++
	f.mu.Unlock()
	f.log.Warn("outbox: record parked", "seq", rd.Record.Seq, "kind", rd.Record.Kind, "reason", why.Reason)
}

// pause stops the whole queue: central refuses our credentials, and every
// record would fail the same way. Nothing is dead-lettered; a probe goes
// out every PausedRetry.
func (f *Forwarder) pause(ctx context.Context, res result) {
	msg := res.describe()
	f.mu.Lock()
	first := f.paused == nil
	if first {
		f.paused = &db.PauseState{Since: f.clock.Now().UTC(), Status: res.status, Reason: msg}
	}
	f.probeAt = f.clock.Now().Add(f.opt.PausedRetry)
	f.st.lastError = msg
	p := *f.paused
	f.mu.Unlock()
	if !first {
		f.log.Warn("outbox: still paused; central refuses our token", "status", res.status, "err", msg)
		return
	}
	f.log.Error("outbox: PAUSED: central refuses the edge's credentials; nothing is dead-lettered, check upstream.token",
		"status", res.status, "err", msg, "retryEvery", f.opt.PausedRetry.String())
	if err := f.store.SetPaused(ctx, &p); err != nil && !errors.Is(err, context.Canceled) {
		f.log.Error("outbox: store pause state", "err", err)
	}
}

// backoff is the delay before retry n (0-based): exponential from lo,
// capped at hi, with jitter over its upper half. The lower half stays so
// a dead central is never hit in a tight loop; the jitter spreads many
// edges (and many keys) apart after a shared outage.
func backoff(n int, lo, hi time.Duration, rnd func() float64) time.Duration {
	if n < 0 {
		n = 0
	}
	d := hi
	if n < 32 {
		if e := lo << n; e > 0 && e < hi {
			d = e
		}
	}
	half := d / 2
	return half + time.Duration(rnd()*float64(d-half))
}
