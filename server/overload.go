package server

import (
	"errors"
	"fmt"

	"github.com/valyala/fasthttp"
)

// errOverloaded refuses a call at once when too many already wait for a
// commit: queueing more would only make every call slow and then time out.
var errOverloaded = errors.New("overloaded")

// admit bounds the calls waiting for a commit. Past the limit the call is
// answered 503 with Retry-After before anything is decoded or stored, so
// the PBX can retry with the same channelId and the calls already admitted
// keep their latency.
func (s *Server) admit(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	limit := int64(s.limits.MaxPendingCommits)
	refused := fmt.Errorf("%w: %d calls are already waiting for a commit (server.max_pending_commits); nothing was stored, retry with the same channelId",
		errOverloaded, limit)
	return func(ctx *fasthttp.RequestCtx) {
		if s.pending.Add(1) > limit {
			s.pending.Add(-1)
			s.metrics.overloaded.Inc()
			s.writeError(ctx, refused)
			return
		}
		defer s.pending.Add(-1)
		h(ctx)
	}
}
