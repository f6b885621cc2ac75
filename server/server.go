// Package server answers the enneo telephony API and the edge's own API
// over fasthttp.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
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
}

// New builds a server from its dependencies; Serve starts it.
func New(store *db.Store, a *auth.Authenticator, pn *phone.Normalizer, log *slog.Logger, l Limits, opts ...Option) *Server {
	if l.CommitTimeout == 0 {
		l.CommitTimeout = 3 * time.Second
	}
	if l.MaxPendingCommits == 0 {
		l.MaxPendingCommits = 1024
	}
	s := &Server{store: store, auth: a, phone: pn, log: log, limits: l, version: "dev", commit: "unknown", started: time.Now(),
		refusedLog: newLogLimiter(time.Now)}
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
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		SecureErrorLogMessage:        true,
		CloseOnShutdown:              true,
		TCPKeepalive:                 true,
		Logger:                       fasthttpLogger{log},
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
	r.POST(callReceivedPath, s.authed(s.admit(s.callReceived)))
	r.GET("/api/mind/telephony/getRouting", s.authed(s.getRouting))
	r.POST("/api/mind/telephony/agentConnected", s.authed(s.agentConnected))
	r.POST("/api/mind/telephony/callCompleted", s.authed(s.callCompleted))
	r.GET("/api/mind/telephony/routingAvailability", s.authed(s.routingAvailability))
	r.PATCH("/api/mind/profile/{id}/routingStatus", s.authed(s.routingStatus))
	r.PUT("/edge/v1/agents/{id}", s.authed(s.putAgent))
	r.GET("/edge/v1/agents", s.authed(s.listAgents))
	r.PUT("/edge/v1/customers", s.authed(s.putCustomers))
	r.GET("/edge/v1/customers/{id}", s.authed(s.getCustomer))
	r.DELETE("/edge/v1/customers/{id}", s.authed(s.deleteCustomer))
	r.GET("/edge/v1/tickets/{id}", s.authed(s.getTicket))
	r.GET("/edge/v1/outbox", s.authed(s.outbox))
	r.GET("/edge/v1/outbox/dead", s.authed(s.deadLetters))
	r.POST("/edge/v1/outbox/dead/retry", s.authed(s.retryAllDeadLetters))
	r.POST("/edge/v1/outbox/dead/{seq}/retry", s.authed(s.retryDeadLetter))
	r.GET("/", s.statusPage)
	r.GET("/edge/v1/status", s.authed(s.status))
	r.GET("/edge/v1/backup", s.authed(s.backup))
	r.GET("/metrics", s.authed(s.serveMetrics))
	return s.instrument(r.Handler)
}

const callReceivedPath = "/api/mind/telephony/callReceived"

// Serve answers requests on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.http.Serve(ln) }

// Shutdown stops accepting connections and waits for in-flight requests
// (whose commits complete) until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.ShutdownWithContext(ctx) }

// authed refuses requests without valid credentials before h runs.
func (s *Server) authed(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		err := s.auth.Check(auth.Credentials{
			Authorization: ctx.Request.Header.Peek(fasthttp.HeaderAuthorization),
			Cookie:        ctx.Request.Header.Peek(fasthttp.HeaderCookie),
			InternalToken: ctx.Request.Header.Peek("x-internal-communication-token"),
		})
		if err != nil {
			s.writeError(ctx, err)
			return
		}
		h(ctx)
	}
}

// transportError answers requests fasthttp could not read, in the same
// JSON envelope as every other error.
func (s *Server) transportError(ctx *fasthttp.RequestCtx, err error) {
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

// readyz commits a real write, so it fails when the disk or the store does.
func (s *Server) readyz(ctx *fasthttp.RequestCtx) {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.store.Ready(c); err != nil {
		writeErrorText(ctx, fasthttp.StatusServiceUnavailable, "database: not writable: "+err.Error())
		return
	}
	answer := map[string]any{"success": true, "status": "ready"}
	// Ready, but not as configured: the operator looks here too.
	if w := s.walStatus(); !w.Enabled && w.Reason != "" {
		answer["wal"] = "off: " + w.Reason
	}
	writeJSON(ctx, fasthttp.StatusOK, answer)
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

type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Debug("fasthttp", "msg", fmt.Sprintf(format, args...))
}
