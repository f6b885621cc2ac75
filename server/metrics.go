package server

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"

	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/model"
)

// Latency buckets in seconds: a call is answered in about a millisecond, a
// slow disk shows in the tens of milliseconds, the commit timeout at 3 s.
var latencyBuckets = []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// syncBuckets are fsync durations: one of the log takes 0.1–0.3 ms on a
// quiet disk, a checkpoint of the database file milliseconds.
var syncBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}

// batchBuckets are group-commit batch sizes (maxBatch is 512).
var batchBuckets = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}

// Metrics is what /metrics shows, in Prometheus text format. It is built
// before the store so the store's commit hook can feed it; the gauges that
// read the store are added when the server is built.
type Metrics struct {
	set *metrics.Set

	mu       sync.Mutex
	requests map[routeCode]*metrics.Counter
	latency  map[string]*metrics.PrometheusHistogram
	upstream map[int]*metrics.Counter

	commits       *metrics.Counter
	commitWrites  *metrics.Counter
	commitFull    *metrics.Counter
	commitFailed  *metrics.Counter
	commitBatch   *metrics.PrometheusHistogram
	commitSeconds *metrics.PrometheusHistogram
	logSync       *metrics.PrometheusHistogram
	checkpoint    *metrics.PrometheusHistogram
	overloaded    *metrics.Counter

	refusedByCode    map[int]*metrics.Counter
	refusedNotLogged *metrics.Counter

	// agents is edge_agents by call routing status, set by countAgents
	// once per scrape (one read for the seven series, not seven).
	agents map[string]*metrics.Gauge

	calls   window
	history history
}

type routeCode struct {
	route string
	code  int
}

// NewMetrics makes an empty registry. Each server has its own, so tests
// running several servers in one process do not share counters.
func NewMetrics() *Metrics {
	exposeMetadata.Do(func() { metrics.ExposeMetadata(true) })
	set := metrics.NewSet()
	return &Metrics{
		set:           set,
		requests:      map[routeCode]*metrics.Counter{},
		latency:       map[string]*metrics.PrometheusHistogram{},
		upstream:      map[int]*metrics.Counter{},
		commits:       set.NewCounter("edge_db_commits_total"),
		commitWrites:  set.NewCounter("edge_db_commit_writes_total"),
		commitFull:    set.NewCounter(`edge_db_commit_errors_total{kind="full"}`),
		commitFailed:  set.NewCounter(`edge_db_commit_errors_total{kind="io"}`),
		commitBatch:   set.NewPrometheusHistogramExt("edge_db_commit_batch_size", batchBuckets),
		commitSeconds: set.NewPrometheusHistogramExt("edge_db_commit_duration_seconds", latencyBuckets),
		logSync:       set.NewPrometheusHistogramExt("edge_db_log_sync_duration_seconds", syncBuckets),
		checkpoint:    set.NewPrometheusHistogramExt("edge_db_checkpoint_duration_seconds", syncBuckets),
		overloaded:    set.NewCounter("edge_calls_overloaded_total"),

		refusedByCode:    map[int]*metrics.Counter{},
		refusedNotLogged: set.NewCounter("edge_http_refused_not_logged_total"),
		calls:            window{now: time.Now},
		history:          history{now: time.Now},
	}
}

// ObserveLogSync records one fdatasync of the write-ahead log; pass it as
// db.Options.OnLogSync.
func (m *Metrics) ObserveLogSync(took time.Duration) { m.logSync.Update(took.Seconds()) }

// ObserveCheckpoint records one checkpoint fsync of the database file;
// pass it as db.Options.OnCheckpoint.
func (m *Metrics) ObserveCheckpoint(took time.Duration) { m.checkpoint.Update(took.Seconds()) }

// ObserveCommit records one group commit (a success, ErrFull or ErrFailed);
// pass it as db.Options.OnCommit.
// A successful commit is one fdatasync: of the write-ahead log, or of the
// file for a large one; bbolt's two (pages, then meta page) without the log.
func (m *Metrics) ObserveCommit(writes int, took time.Duration, err error) {
	switch {
	case err == nil:
		m.commits.Inc()
		m.commitWrites.Add(writes)
		m.commitBatch.Update(float64(writes))
		m.commitSeconds.Update(took.Seconds())
	case errors.Is(err, db.ErrFull):
		m.commitFull.Inc()
	default:
		m.commitFailed.Inc()
	}
}

// ObserveUpstream counts one answer from central by status code (0 for a
// network error). The forwarder calls it.
func (m *Metrics) ObserveUpstream(code int) {
	m.mu.Lock()
	c := m.upstream[code]
	if c == nil {
		c = m.set.NewCounter(`edge_upstream_responses_total{code="` + strconv.Itoa(code) + `"}`)
		m.upstream[code] = c
	}
	m.mu.Unlock()
	c.Inc()
}

// refused counts one refused request (4xx, 503) by status, for the status
// page (edge_http_requests_total has them by route too).
func (m *Metrics) refused(code int) {
	m.mu.Lock()
	c := m.refusedByCode[code]
	if c == nil {
		c = m.set.NewCounter(`edge_http_refused_total{code="` + strconv.Itoa(code) + `"}`)
		m.refusedByCode[code] = c
	}
	m.mu.Unlock()
	c.Inc()
}

// RefusedCounts returns the refused requests since start by status code.
func (m *Metrics) RefusedCounts() map[int]uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[int]uint64, len(m.refusedByCode))
	for code, c := range m.refusedByCode {
		out[code] = c.Get()
	}
	return out
}

// observe records one answered request.
func (m *Metrics) observe(route string, code int, took time.Duration) {
	k := routeCode{route, code}
	m.mu.Lock()
	c := m.requests[k]
	if c == nil {
		c = m.set.NewCounter(fmt.Sprintf(`edge_http_requests_total{route=%q,code="%d"}`, route, code))
		m.requests[k] = c
	}
	h := m.latency[route]
	if h == nil {
		h = m.set.NewPrometheusHistogramExt(fmt.Sprintf(`edge_http_request_duration_seconds{route=%q}`, route), latencyBuckets)
		m.latency[route] = h
	}
	m.mu.Unlock()
	c.Inc()
	h.Update(took.Seconds())
}

// watch adds the gauges read at scrape time from the store, the
// admission counter and the forwarder.
func (m *Metrics) watch(s *Server) {
	store := s.store
	gauge := func(name string, f func() (float64, error)) {
		m.set.NewGauge(name, func() float64 {
			v, err := f()
			if err != nil {
				s.log.Warn("metrics: read gauge", "gauge", name, "err", err)
				return -1
			}
			return v
		})
	}
	gauge("edge_tickets_stored", func() (float64, error) { n, err := store.TicketCount(); return float64(n), err })
	gauge("edge_customers_stored", func() (float64, error) { n, err := store.CustomerCount(); return float64(n), err })
	gauge("edge_db_size_bytes", func() (float64, error) { n, err := store.FileSize(); return float64(n), err })
	// 0 when uncapped, so an alert on size/cap needs "and cap > 0".
	gauge("edge_db_max_size_bytes", func() (float64, error) { return float64(s.maxSize), nil })
	gauge("edge_db_failed", func() (float64, error) { return b2f(store.Failed() != nil), nil })
	gauge("edge_db_log_enabled", func() (float64, error) { return b2f(store.LogStats().Enabled), nil })
	gauge("edge_db_log_bytes_total", func() (float64, error) { return float64(store.LogStats().Bytes), nil })
	gauge("edge_db_log_large_commits_total", func() (float64, error) { return float64(store.LogStats().LargeCommits), nil })
	gauge("edge_outbox_pending", func() (float64, error) { st, err := store.OutboxStatus(); return float64(st.Pending), err })
	gauge("edge_outbox_oldest_age_seconds", func() (float64, error) {
		st, err := store.OutboxStatus()
		return st.OldestPendingAge, err
	})
	gauge("edge_outbox_dead_letters", func() (float64, error) { return float64(s.upstreamStatus().DeadLetters), nil })
	gauge("edge_directory_age_seconds", func() (float64, error) {
		// -1: not pulled (air-gapped, pull off, or never reached central).
		if d := s.upstreamStatus().Directory; d != nil && d.PulledAt != nil {
			return d.AgeSeconds, nil
		}
		return -1, nil
	})
	gauge("edge_outbox_stuck_records", func() (float64, error) { return float64(s.upstreamStatus().Stuck), nil })
	gauge("edge_outbox_paused", func() (float64, error) { return b2f(s.upstreamStatus().Paused), nil })
	gauge("edge_upstream_reachable", func() (float64, error) {
		r := s.upstreamStatus().Reachable
		return b2f(r != nil && *r), nil
	})
	gauge("edge_calls_pending_commit", func() (float64, error) { return float64(s.pending.Load()), nil })
	gauge(fmt.Sprintf(`edge_build_info{version=%q,commit=%q,goversion=%q}`, s.version, s.commit, runtime.Version()),
		func() (float64, error) { return 1, nil })
	m.agents = make(map[string]*metrics.Gauge, len(model.Presences))
	for _, st := range model.Presences {
		m.agents[st] = m.set.NewGauge(`edge_agents{status="`+st+`"}`, nil)
	}
}

// countAgents sets edge_agents from every agent the edge knows, as
// routingAvailability lists them: the configured ones (offline until
// seen) and those seen through presence. It reads the agents and presence
// buckets, a few hundred keys, never the tickets. Every status is always
// written, 0 included, so a panel or alert sees the series from the start.
func (s *Server) countAgents() {
	n := make(map[string]float64, len(model.Presences))
	avs, err := s.store.RoutingAvailability(0)
	for _, a := range avs {
		n[a.CallRoutingStatus]++ // a status outside model.Presences has no series
	}
	for st, g := range s.metrics.agents {
		if err != nil {
			g.Set(-1)
			continue
		}
		g.Set(n[st])
	}
	if err != nil {
		s.log.Warn("metrics: count agents", "err", err)
	}
}

// instrument counts every request by route pattern (never by raw path, to
// keep the label set small) and status, and times it.
func (s *Server) instrument(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		start := time.Now()
		h(ctx)
		took := time.Since(start)
		route, _ := ctx.UserValue(router.MatchedRoutePathParam).(string)
		if route == "" {
			route = "unmatched"
		}
		s.metrics.observe(route, ctx.Response.StatusCode(), took)
		s.logRequest(ctx, route, ctx.Response.StatusCode(), took)
		if route == callReceivedPath && ctx.Response.StatusCode() == fasthttp.StatusOK {
			s.metrics.calls.add(took)
			s.metrics.history.add(took)
		}
	}
}

func (s *Server) serveMetrics(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	s.countAgents()
	var b bytes.Buffer
	s.metrics.writeMetrics(&b)
	s.writeClusterMetrics(&b)
	ctx.SetBody(b.Bytes())
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
