package server

import (
	"errors"
	"net/netip"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/enneo-edge/enneo-edge/auth"
)

// Failed authentication is throttled per client address: a client that
// keeps presenting wrong credentials gets authFailBurst tries, then
// authFailRate a second, and 429 without a check in between. Clients at
// other addresses, and the same client with good credentials while it
// has tries left, are not slowed.
const (
	authFailRate  = 2
	authFailBurst = 20
	// refusalLogEvery paces the log lines about one address.
	refusalLogEvery = 10 * time.Second
)

// errUnauthorized is the one text every refused credential gets: telling
// an expired token from a bad signature helps only whoever guesses. The
// reason goes to the log.
var errUnauthorized = errors.New("missing or invalid credentials")

// errForbidden answers a valid credential whose role may not use a route.
var errForbidden = errors.New("forbidden")

// errTooManyFailures answers an address over its failed-auth budget.
var errTooManyFailures = errors.New("too many failed authentication attempts from this address; retry later")

// authed refuses requests without valid credentials of a role that may
// use the route before h runs.
func (s *Server) authed(need auth.Role, h fasthttp.RequestHandler) fasthttp.RequestHandler {
	forbidden := errors.New(errForbidden.Error() + ": this route needs the " + need.String() + " or admin role")
	return func(ctx *fasthttp.RequestCtx) {
		addr := clientAddr(ctx)
		if s.authFails.empty(addr) {
			s.refuse(ctx, addr, fasthttp.StatusTooManyRequests, errTooManyFailures.Error(), "throttled")
			return
		}
		role, err := s.auth.Authenticate(auth.Credentials{
			Authorization: ctx.Request.Header.Peek(fasthttp.HeaderAuthorization),
			Cookie:        ctx.Request.Header.Peek(fasthttp.HeaderCookie),
			InternalToken: ctx.Request.Header.Peek("x-internal-communication-token"),
		})
		if err != nil {
			s.authFails.take(addr)
			ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="enneo-edge"`)
			s.refuse(ctx, addr, fasthttp.StatusUnauthorized, errUnauthorized.Error(), err.Error())
			return
		}
		if !role.Allows(need) {
			s.refuse(ctx, addr, fasthttp.StatusForbidden, forbidden.Error(), "role "+role.String()+" may not use this route")
			return
		}
		h(ctx)
	}
}

// refuse answers code with text and logs the refusal with its reason:
// the client's address, the route and why, never a credential. One line
// per address per refusalLogEvery stands for all refusals in between.
func (s *Server) refuse(ctx *fasthttp.RequestCtx, addr netip.Addr, code int, text, reason string) {
	if code == fasthttp.StatusTooManyRequests {
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(int(refusalLogEvery/time.Second)))
	}
	writeErrorText(ctx, code, text)
	ctx.SetUserValue(loggedKey, true)
	if report, n := s.authFails.refused(addr); report {
		s.log.Warn("request refused", "client", addr.String(), "method", string(ctx.Method()),
			"route", string(ctx.Path()), "status", code, "reason", reason, "refusedSinceLastLine", n)
	}
}

// callLimits refuses a call body larger than Limits.MaxCallBodyBytes (the
// server-wide limit is sized for bulk customer uploads) and, when
// Limits.CallsPerSecondPerClient is set, calls over that rate per client
// address, before anything is decoded or stored.
func (s *Server) callLimits(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	tooLarge := "body: larger than the limit of " + strconv.Itoa(s.limits.MaxCallBodyBytes) + " bytes for a call (server.max_call_body_bytes)"
	return func(ctx *fasthttp.RequestCtx) {
		if len(ctx.Request.Body()) > s.limits.MaxCallBodyBytes {
			writeErrorText(ctx, fasthttp.StatusRequestEntityTooLarge, tooLarge)
			return
		}
		if s.callRate != nil {
			if addr := clientAddr(ctx); !s.callRate.take(addr) {
				ctx.Response.Header.Set("Retry-After", "1")
				writeErrorText(ctx, fasthttp.StatusTooManyRequests, "too many calls from this address (server.max_calls_per_second_per_client); nothing was stored, retry with the same channelId")
				if report, n := s.callRate.refused(addr); report {
					s.log.Warn("call refused: over the per-client call rate", "client", addr.String(), "refusedSinceLastLine", n)
				}
				return
			}
		}
		h(ctx)
	}
}

// secureHeaders sets the headers every answer carries: nothing the edge
// sends is to be cached or sniffed, and over TLS browsers are told to stay
// on it.
func (s *Server) secureHeaders(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		setSecureHeaders(ctx, s.tls)
		h(ctx)
	}
}

func setSecureHeaders(ctx *fasthttp.RequestCtx, tls bool) {
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	if tls {
		ctx.Response.Header.Set("Strict-Transport-Security", "max-age=31536000")
	}
}
