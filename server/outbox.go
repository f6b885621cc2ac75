package server

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/upstream"
)

// Bounds on what the outbox routes list: the backlog stays on disk, the
// operator sees its head.
const (
	outboxHeadShown  = 20
	deadLettersShown = 100
	maxDeadLetters   = 10000
	stuckShown       = 100
)

// ForwarderStatus is the forwarder as the outbox routes see it.
type ForwarderStatus interface {
	Status() upstream.Status
	StuckAfter() time.Duration
	RetryNow()
	InFlight(seq uint64) bool
}

type forwarderRef struct{ f ForwarderStatus }

// SetForwarder makes GET /edge/v1/outbox report the forwarder's live state
// (in flight, paused and why, backing off); without it (air-gapped)
// "forwarder" is null. It may be called while serving.
func (s *Server) SetForwarder(f ForwarderStatus) { s.forwarder.Store(&forwarderRef{f}) }

// outbox reports the backlog (size, oldest age, head), the forwarder's
// state and the dead letters with their reasons.
func (s *Server) outbox(ctx *fasthttp.RequestCtx) {
	st, err := s.store.OutboxStatus()
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	head, err := s.store.Outbox(outboxHeadShown)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	dead, _, err := s.store.DeadLetters(deadLettersShown)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	if head == nil {
		head = []db.OutboxRecord{}
	}
	if dead == nil {
		dead = []db.DeadLetter{}
	}
	var (
		fwd        any
		stuck      = []db.Stuck{}
		stuckTotal int64
	)
	if ref := s.forwarder.Load(); ref != nil {
		fwd = ref.f.Status()
		if stuck, stuckTotal, err = s.store.StuckOutbox(time.Now().Add(-ref.f.StuckAfter()), stuckShown); err != nil {
			s.writeError(ctx, err)
			return
		}
		if stuck == nil {
			stuck = []db.Stuck{}
		}
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"success": true, "outbox": st, "forwarder": fwd,
		"head": head, "deadLetters": dead, "stuck": stuck, "stuckTotal": stuckTotal})
}

// retryPending ends the forwarder's backoffs so pending record seq (and
// every other) is tried at once.
func (s *Server) retryPending(ctx *fasthttp.RequestCtx) {
	seq, ok := s.pendingSeq(ctx)
	if !ok {
		return
	}
	ref := s.forwarder.Load()
	if ref == nil {
		s.writeError(ctx, fmt.Errorf("%w: outbox record %d: nothing is forwarded (air-gapped: no upstream.url)", db.ErrConflict, seq))
		return
	}
	ref.f.RetryNow()
	s.log.Info("outbox: operator asked to retry now", "seq", seq)
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"success": true, "retrying": seq})
}

// deadLetterPending moves a pending record to the dead letters by hand,
// with central's last answer as the reason: for a record central keeps
// refusing with 5xx, which the forwarder would retry forever. The ticket's
// later records park behind it, as behind any dead letter.
func (s *Server) deadLetterPending(ctx *fasthttp.RequestCtx) {
	seq, ok := s.pendingSeq(ctx)
	if !ok {
		return
	}
	if ref := s.forwarder.Load(); ref != nil && ref.f.InFlight(seq) {
		// Central may be taking it right now; dead, its delivery would go
		// unrecorded and a retry would send it twice.
		s.writeError(ctx, fmt.Errorf("%w: outbox record %d is being sent right now; try again in a moment", db.ErrConflict, seq))
		return
	}
	tr, _, err := s.store.Tries(seq)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	reason := "dead-lettered by an operator"
	if tr.LastError != "" {
		reason += "; last answer: " + tr.LastError
	}
	c, cancel := context.WithTimeout(context.Background(), s.limits.CommitTimeout)
	defer cancel()
	if err := s.store.DeadLetter(c, seq, db.DeadReason{Status: tr.LastStatus, Reason: reason}); err != nil {
		s.writeError(ctx, err)
		return
	}
	s.log.Warn("outbox: record dead-lettered by an operator", "seq", seq, "attempts", tr.Attempts, "lastError", tr.LastError)
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"success": true, "deadLettered": seq})
}

// pendingSeq reads the {seq} of a route about a pending record and
// answers 400 or 404 itself when there is none.
func (s *Server) pendingSeq(ctx *fasthttp.RequestCtx) (uint64, bool) {
	seq, err := strconv.ParseUint(pathParam(ctx, "seq"), 10, 64)
	if err != nil || seq == 0 {
		s.writeError(ctx, fmt.Errorf("%w: seq: must be a positive integer", errBadRequest))
		return 0, false
	}
	_, ok, err := s.store.Tries(seq)
	if err == nil && !ok {
		err = fmt.Errorf("outbox record %d is not pending: %w", seq, db.ErrNotFound)
	}
	if err != nil {
		s.writeError(ctx, err)
		return 0, false
	}
	return seq, true
}

// deadLetters lists dead letters; ?limit=N (default 100, at most 10000).
func (s *Server) deadLetters(ctx *fasthttp.RequestCtx) {
	limit := deadLettersShown
	if v := ctx.QueryArgs().Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > maxDeadLetters {
			s.writeError(ctx, fmt.Errorf("%w: limit: must be an integer between 1 and %d", errBadRequest, maxDeadLetters))
			return
		}
		limit = n
	}
	dead, total, err := s.store.DeadLetters(limit)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	if dead == nil {
		dead = []db.DeadLetter{}
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"success": true, "total": total, "deadLetters": dead})
}

// retryDeadLetter puts one dead letter (and the records parked behind it)
// back into the outbox.
func (s *Server) retryDeadLetter(ctx *fasthttp.RequestCtx) {
	seq, err := strconv.ParseUint(pathParam(ctx, "seq"), 10, 64)
	if err != nil || seq == 0 {
		s.writeError(ctx, fmt.Errorf("%w: seq: must be a positive integer", errBadRequest))
		return
	}
	c, cancel := context.WithTimeout(context.Background(), s.limits.CommitTimeout)
	defer cancel()
	n, err := s.store.RetryDead(c, seq)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	s.log.Info("outbox: dead letter requeued", "seq", seq, "records", n)
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"success": true, "requeued": n})
}

// retryAllDeadLetters puts every dead letter back into the outbox.
func (s *Server) retryAllDeadLetters(ctx *fasthttp.RequestCtx) {
	n, err := s.store.RetryAllDead(context.Background())
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	s.log.Info("outbox: all dead letters requeued", "records", n)
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"success": true, "requeued": n})
}
