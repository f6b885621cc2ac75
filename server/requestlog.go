package server

import (
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// reasonKey holds the error text a request was answered with, for the
// refused-request log line.
const reasonKey = "edge.reason"

// loggedKey marks a refusal its guard logged already (failed
// authentication, throttling, a role refused), with a limit per client
// address of its own: it is counted here, not logged twice.
const loggedKey = "edge.logged"

// Refused requests are logged at most refusedRate a second (bursts of
// refusedBurst): a PBX with a wrong token retrying in a loop, or a scanner,
// must not fill the disk through the journal.
const (
	refusedRate  = 10
	refusedBurst = 20
)

// maxLoggedPath bounds the raw path of an unmatched request in the log:
// the client chose it.
const maxLoggedPath = 128

// logLimiter is a token bucket for log lines, counting what it holds back
// so the next line written can say how many were left out.
type logLimiter struct {
	mu      sync.Mutex
	now     func() time.Time
	tokens  float64
	last    time.Time
	dropped int64
}

func newLogLimiter(now func() time.Time) *logLimiter {
	return &logLimiter{now: now, tokens: refusedBurst, last: now()}
}

// allow takes a token; when it gets one it returns how many lines were
// held back since the last line written.
func (l *logLimiter) allow() (ok bool, dropped int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.tokens = min(refusedBurst, l.tokens+now.Sub(l.last).Seconds()*refusedRate)
	l.last = now
	if l.tokens < 1 {
		l.dropped++
		return false, 0
	}
	l.tokens--
	dropped, l.dropped = l.dropped, 0
	return true, dropped
}

// logRequest writes the access line (when configured) and, for a refused
// request, the rate-limited warn line. 500s are logged as errors where
// they happen, with the cause.
func (s *Server) logRequest(ctx *fasthttp.RequestCtx, route string, code int, took time.Duration) {
	if s.accessLog {
		s.log.Info("request", "method", string(ctx.Method()), "route", loggedRoute(ctx, route), "status", code,
			"ms", float64(took.Microseconds())/1000, "client", ctx.RemoteAddr().String())
	}
	if code < 400 || code == fasthttp.StatusInternalServerError {
		return
	}
	s.metrics.refused(code)
	if done, _ := ctx.UserValue(loggedKey).(bool); done {
		return
	}
	ok, dropped := s.refusedLog.allow()
	if !ok {
		s.metrics.refusedNotLogged.Inc()
		return
	}
	reason, _ := ctx.UserValue(reasonKey).(string)
	attrs := []any{"method", string(ctx.Method()), "route", loggedRoute(ctx, route), "status", code,
		"reason", reason, "client", ctx.RemoteAddr().String()}
	if dropped > 0 {
		attrs = append(attrs, "notLoggedBefore", dropped)
	}
	s.log.Warn("request refused", attrs...)
}

// loggedRoute is the route pattern, or for requests that matched none the
// path they asked for, cut short.
func loggedRoute(ctx *fasthttp.RequestCtx, route string) string {
	if route != "unmatched" {
		return route
	}
	p := string(ctx.Path())
	if len(p) > maxLoggedPath {
		p = p[:maxLoggedPath] + "…"
	}
	return p
}
