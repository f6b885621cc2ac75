// Package server answers the enneo telephony API and the edge's own API
// over fasthttp.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/router"
	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/enneo-edge/enneo-edge/auth"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/phone"
)

// Limits are the fasthttp settings an appliance must not leave at their
// defaults (unlimited timeouts, 256k connections, 4 KiB headers).
type Limits struct {
	ReadTimeout     time.Duration
	WriteTimeout    time.Duration
	IdleTimeout     time.Duration
	MaxBodyBytes    int
	ReadBufferBytes int
	MaxConnections  int
	// CommitTimeout bounds how long a call waits for its commit before it
	// is answered 503 (outcome unknown, retry with the same channelId).
	CommitTimeout time.Duration
	// MaxPendingCommits bounds the calls waiting for a commit; past it
	// callReceived answers 503 with Retry-After at once (default 1024).
	MaxPendingCommits int
	// MaxConnsPerIP bounds the connections from one client address
	// (default 256), so one host cannot hold all MaxConnections.
	MaxConnsPerIP int
	// MaxCallBodyBytes bounds a callReceived body (default 128 KiB);
	// MaxBodyBytes is sized for bulk customer uploads.
	MaxCallBodyBytes int
	// CallsPerSecondPerClient, when positive, bounds the calls one client
	// address may send per second (a burst of twice that).
	CallsPerSecondPerClient float64
}

// Server is the HTTP front of the edge.
type Server struct {
	store  *db.Store
	auth   *auth.Authenticator
	phone  *phone.Normalizer
	log    *slog.Logger
	limits Limits
	http   *fasthttp.Server

	metrics   *Metrics
	upstream  func() UpstreamStatus
	version   string
	commit    string
	started   time.Time
	accessLog bool
	maxSize   int64 // storage.max_size_bytes, for the status page

	refusedLog *logLimiter
	pending    atomic.Int64                 // calls admitted and not yet answered
	forwarder  atomic.Pointer[forwarderRef] // nil when air-gapped

	tls       bool          // answers go over TLS: send HSTS
	authFails *keyedLimiter // failed authentication per client address
	callRate  *keyedLimiter // calls per client address; nil when unlimited
	ready     readyCache
	cluster   Cluster // nil: a single appliance
}

// New builds a server from its dependencies; Serve starts it.
func New(store *db.Store, a *auth.Authenticator, pn *phone.Normalizer, log *slog.Logger, l Limits, opts ...Option) *Server {
	if l.CommitTimeout == 0 {
		l.CommitTimeout = 3 * time.Second
	}
	if l.MaxPendingCommits == 0 {
		l.MaxPendingCommits = 1024
	}
	if l.MaxConnsPerIP == 0 {
		// Far more than a PBX opens, and at most a quarter of all.
		l.MaxConnsPerIP = 256
		if l.MaxConnections > 0 {
			l.MaxConnsPerIP = max(1, min(256, l.MaxConnections/4))
		}
	}
	if l.MaxCallBodyBytes == 0 {
		l.MaxCallBodyBytes = 128 << 10
	}
	s := &Server{store: store, auth: a, phone: pn, log: log, limits: l, version: "dev", commit: "unknown", started: time.Now(),
		authFails:  newKeyedLimiter(authFailRate, authFailBurst, refusalLogEvery),
		refusedLog: newLogLimiter(time.Now)}
	if l.CallsPerSecondPerClient > 0 {
		s.callRate = newKeyedLimiter(l.CallsPerSecondPerClient, 2*l.CallsPerSecondPerClient, refusalLogEvery)
	}
	for _, o := range opts {
		o(s)
	}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	s.metrics.watch(s)
	s.http = &fasthttp.Server{
		Handler:                      s.routes(),
		ErrorHandler:                 s.transportError,
		Name:                         "enneo-edge",
		ReadTimeout:                  l.ReadTimeout,
		WriteTimeout:                 l.WriteTimeout,
		IdleTimeout:                  l.IdleTimeout,
		MaxRequestBodySize:           l.MaxBodyBytes,
		ReadBufferSize:               l.ReadBufferBytes,
		Concurrency:                  l.MaxConnections,
		MaxConnsPerIP:                l.MaxConnsPerIP,
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		SecureErrorLogMessage:        true,
		CloseOnShutdown:              true,
		TCPKeepalive:                 true,
		Logger:                       newFasthttpLogger(log),
	}
	return s
}

func (s *Server) routes() fasthttp.RequestHandler {
	r := router.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.SaveMatchedRoutePath = true // the metrics label
	r.NotFound = func(ctx *fasthttp.RequestCtx) {
		writeErrorText(ctx, fasthttp.StatusNotFound, "no route "+string(ctx.Method())+" "+string(ctx.Path()))
	}
	r.MethodNotAllowed = func(ctx *fasthttp.RequestCtx) {
		writeErrorText(ctx, fasthttp.StatusMethodNotAllowed, "method "+string(ctx.Method())+" not allowed on "+string(ctx.Path()))
	}
	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.POST(callReceivedPath, s.authed(auth.RolePBX, s.callLimits(s.admit(s.callReceived))))
	r.GET("/api/mind/telephony/getRouting", s.authed(auth.RolePBX, s.getRouting))
	r.POST("/api/mind/telephony/agentConnected", s.authed(auth.RolePBX, s.agentConnected))
	r.POST("/api/mind/telephony/callCompleted", s.authed(auth.RolePBX, s.callCompleted))
	r.GET("/api/mind/telephony/routingAvailability", s.authed(auth.RolePBX, s.routingAvailability))
	r.PATCH("/api/mind/profile/{id}/routingStatus", s.authed(auth.RolePBX, s.routingStatus))
	r.GET("/api/mind/settings/subchannel", s.authed(auth.RolePBX, s.subchannels))
	r.PUT("/edge/v1/agents/{id}", s.authed(auth.RoleAdmin, s.putAgent))
	r.GET("/edge/v1/agents", s.authed(auth.RoleAdmin, s.listAgents))
	r.PUT("/edge/v1/customers", s.authed(auth.RoleAdmin, s.putCustomers))
	r.GET("/edge/v1/customers/{id}", s.authed(auth.RoleAdmin, s.getCustomer))
	r.DELETE("/edge/v1/customers/{id}", s.authed(auth.RoleAdmin, s.deleteCustomer))
	r.GET("/edge/v1/tickets/{id}", s.authed(auth.RoleAdmin, s.getTicket))
	r.GET("/edge/v1/outbox", s.authed(auth.RoleAdmin, s.outbox))
	r.GET("/edge/v1/outbox/dead", s.authed(auth.RoleAdmin, s.deadLetters))
	r.POST("/edge/v1/outbox/dead/retry", s.authed(auth.RoleAdmin, s.retryAllDeadLetters))
	r.POST("/edge/v1/outbox/dead/{seq}/retry", s.authed(auth.RoleAdmin, s.retryDeadLetter))
	r.POST("/edge/v1/outbox/{seq}/retry", s.authed(auth.RoleAdmin, s.retryPending))
	r.POST("/edge/v1/outbox/{seq}/dead-letter", s.authed(auth.RoleAdmin, s.deadLetterPending))
	r.GET("/", s.statusPage)
	r.GET("/edge/v1/status", s.authed(auth.RoleViewer, s.status))
	r.GET("/edge/v1/backup", s.authed(auth.RoleAdmin, s.backup))
	r.GET("/metrics", s.authed(auth.RoleMetrics, s.serveMetrics))
	r.GET("/edge/v1/cluster", s.authed(auth.RoleAdmin, s.clusterStatus))
	r.POST("/edge/v1/cluster/members", s.authed(auth.RoleAdmin, s.clusterAddMember))
	r.DELETE("/edge/v1/cluster/members/{node}", s.authed(auth.RoleAdmin, s.clusterRemoveMember))
	return s.instrument(s.secureHeaders(r.Handler))
}

const callReceivedPath = "/api/mind/telephony/callReceived"

// Serve answers requests on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.http.Serve(ln) }

// Shutdown stops accepting connections and waits for in-flight requests
// (whose commits complete) until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.ShutdownWithContext(ctx) }

// transportError answers requests fasthttp could not read, in the same
// JSON envelope as every other error.
func (s *Server) transportError(ctx *fasthttp.RequestCtx, err error) {
	setSecureHeaders(ctx, s.tls)
	var (
		small   *fasthttp.ErrSmallBuffer
		timeout net.Error
	)
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		writeErrorText(ctx, fasthttp.StatusRequestEntityTooLarge, "body: larger than the limit of "+strconv.Itoa(s.limits.MaxBodyBytes)+" bytes")
	case errors.As(err, &small):
		writeErrorText(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, "headers: larger than the limit of "+strconv.Itoa(s.limits.ReadBufferBytes)+" bytes")
	case errors.As(err, &timeout) && timeout.Timeout():
		// fasthttp asks for an answer even when a new connection sent
		// nothing before the read timeout; 408 is what clients expect then.
		// Idle connections do this all day: not worth a log line.
		writeErrorText(ctx, fasthttp.StatusRequestTimeout, "request: not received within the read timeout")
		return
	default:
		writeErrorText(ctx, fasthttp.StatusBadRequest, "request: cannot be parsed")
	}
	// These never reach the router, so instrument does not see them.
	s.logRequest(ctx, "unmatched", ctx.Response.StatusCode(), 0)
}

func (s *Server) healthz(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"success": true, "status": "ok"})
}

// readyz commits a real write, so it fails when the disk or the store
// does. The answer is kept for readyInterval: the route needs no
// credentials, and a commit per request would let anyone keep the disk
// busy.
func (s *Server) readyz(ctx *fasthttp.RequestCtx) {
	if err := s.ready.check(s.store); err != nil {
		writeErrorText(ctx, fasthttp.StatusServiceUnavailable, "database: not writable: "+err.Error())
		return
	}
	if err := s.clusterHealthy(); err != nil {
		writeErrorText(ctx, fasthttp.StatusServiceUnavailable, err.Error())
		return
	}
	answer := map[string]any{"success": true, "status": "ready"}
	// Ready, but not as configured: the operator looks here too.
	if w := s.walStatus(); !w.Enabled && w.Reason != "" {
		answer["wal"] = "off: " + w.Reason
	}
	writeJSON(ctx, fasthttp.StatusOK, answer)
}

const readyInterval = time.Second

// readyCache runs one readiness commit at a time and keeps its result for
// readyInterval.
type readyCache struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

func (r *readyCache) check(store *db.Store) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.at.IsZero() && time.Since(r.at) < readyInterval {
		return r.err
	}
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r.err = store.Ready(c)
	r.at = time.Now()
	return r.err
}

func writeJSON(ctx *fasthttp.RequestCtx, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeErrorText(ctx, fasthttp.StatusInternalServerError, "internal error: encode answer")
		return
	}
	ctx.SetStatusCode(code)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

type fasthttpLogger struct {
	log              *slog.Logger
	quoted, peerAddr *regexp.Regexp
}

// Printf logs fasthttp's message without the request bytes it quotes:
// an unparsable header value may be a credential with a stray byte.
// Quoted peer addresses stay.
func (l fasthttpLogger) Printf(format string, args ...any) {
	msg := l.quoted.ReplaceAllStringFunc(fmt.Sprintf(format, args...), func(q string) string {
		if l.peerAddr.MatchString(q) {
			return q
		}
		return `"[redacted]"`
	})
	l.log.Debug("fasthttp", "msg", msg)
}

func newFasthttpLogger(log *slog.Logger) fasthttpLogger {
	return fasthttpLogger{log: log,
		quoted:   regexp.MustCompile(`"(?:[^"\\]|\\.)*"`),
		peerAddr: regexp.MustCompile(`^"[0-9a-fA-F.:\[\]]+"$`)}
}
