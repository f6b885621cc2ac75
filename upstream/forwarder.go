package upstream

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/enneo-edge/enneo-edge/clock"
	"github.com/enneo-edge/enneo-edge/db"
)

// Options configure a Forwarder. Zero durations and counts take the
// defaults documented on each field.
type Options struct {
	// URL is central's API base, ending in /api/mind.
	URL string
	// Token is the credential sent to central, in the headers Auth names.
	Token string
	// InternalToken is sent as x-internal-communication-token when Auth
	// asks for it (default: Token).
	InternalToken string
	// Auth names the credential headers: AuthBearer (the default),
	// AuthInternal or AuthBoth.
	Auth string
	// LookupDelay is how long after an ambiguous attempt the forwarder waits
	// before asking central whether it has the record (default: Timeout),
	// so a central that commits slowly has committed by then.
	LookupDelay time.Duration
	// StuckAfter is how long a record may keep failing before it is shown
	// as stuck (default 10m).
	StuckAfter time.Duration
	// Workers is how many records are in flight at once, each of a
	// different ticket (default 4).
	Workers int
	// Timeout bounds one request (default 30s: a slow central answering
	// late is an ambiguous outcome that costs a lookup, so it should be
	// rare).
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
	set(&o.Timeout, 30*time.Second)
	set(&o.LookupDelay, o.Timeout)
	set(&o.StuckAfter, 10*time.Minute)
	if o.Auth == "" {
		o.Auth = AuthBearer
	}
	if o.InternalToken == "" {
		o.InternalToken = o.Token
	}
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

// breakerThreshold is how many transient failures in a row make the
// forwarder treat central as down: then it sends one probe at a time
// after a backoff instead of trying the whole backlog.
const breakerThreshold = 3

// writeTimeout bounds the forwarder's own commits.
const writeTimeout = 10 * time.Second

// leaseStep is how far ahead of what it sends the forwarder extends its
// durable send lease: one commit per leaseStep records, and after a crash
// at most that many records more than were in flight are looked up first.
const leaseStep = 4096

// Credential headers for Options.Auth.
const (
	AuthBearer   = "bearer"   // Authorization: Bearer
	AuthInternal = "internal" // x-internal-communication-token
	AuthBoth     = "both"
)

// Forwarder drains the outbox to central enneo: in order per ticket (and
// per user for presence), Workers tickets at a time. Build it with New,
// start it with Run, stop it by cancelling Run's context and calling Close.
type Forwarder struct {
	store  Outbox
	client *http.Client
	log    *slog.Logger
	clock  clock.Clock
	opt    Options

	wake    chan struct{}
	stopped chan struct{}
	running atomic.Bool
	started time.Time // when Run began: lookups of records sent before it wait LookupDelay from here

	// startLease is the send lease found at start: records up to it may
	// have been sent before a crash. lease is how far it reaches now.
	startLease, lease uint64

	mu       sync.Mutex
	busy     map[string]struct{}  // keys with a record in flight
	inFlight map[uint64]bool      // seqs being sent or looked up
	unsure   map[uint64]bool      // seqs central took whose delivery the edge failed to record
	waiting  map[string]time.Time // keys backing off, until when
	failures int                  // transient failures in a row
	openTill time.Time            // central treated as down until then
	paused   *db.PauseState
	pauseGen uint64    // counts pauses; an answer ends one only if its request was sent during it
	probeAt  time.Time // next probe while paused
	st       counters
}

type counters struct {
	delivered, retried, dead, parked int64
	lookups, found                   int64
	lastSuccess                      time.Time
	lastError                        string
}

// New builds a forwarder. client may be nil for NewHTTPClient's; clk may
// be nil for the wall clock.
func New(store Outbox, client *http.Client, log *slog.Logger, clk clock.Clock, o Options) *Forwarder {
	o.defaults()
	if client == nil {
		client = NewHTTPClient(o.Workers, nil)
	}
	return &Forwarder{
		store: store, client: client, log: log, clock: clock.Or(clk), opt: o,
		wake:     make(chan struct{}, 1),
		stopped:  make(chan struct{}),
		busy:     map[string]struct{}{},
		waiting:  map[string]time.Time{},
		inFlight: map[uint64]bool{},
		unsure:   map[uint64]bool{},
	}
}

// NewHTTPClient is the client the forwarder uses by default: keep-alive
// connections for every worker, no redirects (a redirect means the URL is
// wrong, and following one would turn a POST into a GET).
func NewHTTPClient(workers int, tlsConfig *tls.Config) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:     tlsConfig,
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        workers * 2,
			MaxIdleConnsPerHost: workers * 2,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 5 * time.Second,
			ForceAttemptHTTP2:   true,
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
	lease, err := f.store.SendLease()
	if err != nil {
		// Unknown: treat every record as possibly sent. Lookups cost
		// requests, a duplicate at central costs a wrong picture.
		f.log.Error("outbox: read send lease; every record is looked up before it is sent", "err", err)
		lease = ^uint64(0)
	}
	f.startLease, f.lease, f.started = lease, lease, f.clock.Now()
	if p, err := f.store.Paused(); err != nil {
		f.log.Error("outbox: read pause state", "err", err)
	} else if p != nil {
		// Still paused from the last run: probe at once, the token may
		// have been fixed in the meantime.
		f.mu.Lock()
		f.paused, f.probeAt, f.pauseGen = p, f.clock.Now(), 1
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
			if err == nil && !f.leaseCovers(recs) {
				recs = nil
				wait = f.opt.BackoffMin
			}
			for _, rd := range recs {
				f.mu.Lock()
				for _, k := range rd.Keys {
					f.busy[k] = struct{}{}
				}
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

// leaseCovers makes sure the durable send lease covers every record about
// to be sent, extending it by leaseStep when it does not, so a record sent
// before a crash is known to be possibly at central after the restart.
func (f *Forwarder) leaseCovers(recs []db.Ready) bool {
	var top uint64
	for _, rd := range recs {
		top = max(top, rd.Record.Seq)
	}
	if top <= f.lease && f.lease != 0 {
		return true
	}
	wctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	next := top + leaseStep
	if err := f.store.ExtendSendLease(wctx, next); err != nil {
		f.log.Error("outbox: extend send lease; nothing is sent until it is stored", "err", err)
		return false
	}
	f.lease = next
	return true
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
			// The probe's outcome wakes the dispatcher; it then waits
			// until the next probe from when that outcome set it.
			return 0, f.opt.Poll
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
