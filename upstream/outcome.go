package upstream

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/enneo-edge/enneo-edge/db"
)

// forward sends one record and records the outcome; the record's keys are
// released only after the outcome is committed, so the next look sees it.
// A record that may already be at central (an earlier attempt's outcome
// is unknown, or it may have been in flight when the edge died) is looked
// up first and only sent when central does not have it.
func (f *Forwarder) forward(ctx context.Context, rd db.Ready) {
	f.mu.Lock()
	f.inFlight[rd.Record.Seq] = true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		for _, k := range rd.Keys {
			delete(f.busy, k)
		}
		delete(f.inFlight, rd.Record.Seq)
		f.mu.Unlock()
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}()
	r := rd.Record
	switch {
	case rd.BlockedBy != 0:
		f.park(rd, fmt.Sprintf("waits for dead letter %d of its ticket; retry that one", rd.BlockedBy))
		return
	case r.Kind != db.KindCallReceived && r.Kind != db.KindRoutingStatus && rd.CentralID == 0:
		f.park(rd, "its ticket has no central ID (callReceived dead-lettered); retry that one")
		return
	}
	gen := f.generation()
	if f.maybeSent(rd) {
		if wait := f.started.Add(f.opt.Timeout + f.opt.LookupDelay).Sub(f.clock.Now()); wait > 0 {
			// Maybe sent just before the edge died, and that request's
			// timeout would have run on past the restart: give central the
			// timeout and the lookup delay after it, as after any ambiguous
			// attempt, before asking.
			f.backoffKeys(rd.Keys, 1, wait)
			return
		}
		lk := f.lookup(ctx, rd)
		if ctx.Err() != nil {
			return
		}
		switch lk.state {
		case found:
			f.delivered(rd, lk.centralID, gen, "lookup")
			return
		case unknown:
			f.settle(rd, lk.res)
			return
		}
	}
	res := f.send(ctx, rd)
	if ctx.Err() != nil {
		return // shutting down: the record stays pending
	}
	if res.outcome == delivered {
		f.delivered(rd, res.centralID, gen, "answer")
		return
	}
	f.settle(rd, res)
}

// settle acts on an attempt that did not deliver the record.
func (f *Forwarder) settle(rd db.Ready, res result) {
	switch res.outcome {
	case retry:
		f.failed(rd, res)
	case refused:
		f.refuse(rd, res)
	case pause:
		wctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		defer cancel()
		f.pause(wctx, res)
	}
}

// maybeSent reports whether central may hold rd already. Presence is
// absolute (the agent's state, not a step), so sending it twice is
// harmless and it is never looked up.
func (f *Forwarder) maybeSent(rd db.Ready) bool {
	if rd.Record.Kind == db.KindRoutingStatus {
		return false
	}
	f.mu.Lock()
	unsure := f.unsure[rd.Record.Seq]
	f.mu.Unlock()
	return unsure || rd.Tries.Ambiguous || rd.Record.Seq <= f.startLease
}

func (f *Forwarder) delivered(rd db.Ready, centralID int64, gen uint64, how string) {
	r := rd.Record
	wctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	if err := f.store.MarkDelivered(wctx, r.Seq, centralID); err != nil {
		// Central has it; only the edge does not know yet. It is looked up
		// before anything is sent again (after a crash: it is within the
		// lease).
		f.log.Error("outbox: mark delivered", "seq", r.Seq, "err", err)
		f.mu.Lock()
		f.unsure[r.Seq] = true
		f.mu.Unlock()
		f.backoffKeys(rd.Keys, 1)
		return
	}
	f.mu.Lock()
	delete(f.unsure, r.Seq)
	f.mu.Unlock()
	f.succeeded(gen)
	f.log.Debug("outbox: delivered", "seq", r.Seq, "kind", r.Kind, "centralId", centralID, "by", how)
}

// generation is the pause count a request is sent under.
func (f *Forwarder) generation() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pauseGen
}

// succeeded notes a delivery. It ends a pause only when the request was
// sent during that pause (a probe): a request sent before central refused
// the token, answered late, proves nothing about the token now.
func (f *Forwarder) succeeded(gen uint64) {
	f.mu.Lock()
	f.failures, f.openTill = 0, time.Time{}
	f.st.delivered++
	f.st.lastSuccess = f.clock.Now()
	resumed := f.paused != nil && gen == f.pauseGen
	if resumed {
		f.paused = nil
	}
	f.mu.Unlock()
	if resumed {
		f.log.Info("outbox: central accepts our token again; forwarding resumed")
		wctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		defer cancel()
		if err := f.store.SetPaused(wctx, nil); err != nil {
			f.log.Error("outbox: clear pause state", "err", err)
		}
	}
}

// failed handles a transient failure: the record's keys back off, and
// after breakerThreshold failures in a row so does the whole queue. After
// an ambiguous one the key waits at least LookupDelay, so the lookup that
// comes next finds what a slow central committed meanwhile.
func (f *Forwarder) failed(rd db.Ready, res result) {
	msg := res.describe()
	attempts, _ := f.recordFailure(rd, res, msg)
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
	floor := res.retryAfter
	if res.ambiguous {
		floor = max(floor, f.opt.LookupDelay)
	}
	f.backoffKeys(rd.Keys, max(attempts, 1), floor)
	f.log.Warn("outbox: central unreachable or failing; will retry", "seq", rd.Record.Seq, "kind", rd.Record.Kind,
		"attempts", attempts, "failuresInARow", n, "queueWaits", global.String(), "ambiguous", res.ambiguous, "err", msg)
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

// backoffKeys keeps keys' next records back for a jittered backoff after
// attempts failures (at least floor).
func (f *Forwarder) backoffKeys(keys []string, attempts int, floor ...time.Duration) {
	d := backoff(attempts-1, f.opt.BackoffMin, f.opt.BackoffMax, rand.Float64)
	for _, fl := range floor {
		d = max(d, fl)
	}
	f.mu.Lock()
	until := f.clock.Now().Add(d)
	for _, k := range keys {
		f.waiting[k] = until
	}
	f.mu.Unlock()
}

// recordFailure stores a failed attempt (durably ambiguous when it was)
// and returns the attempts so far.
func (f *Forwarder) recordFailure(rd db.Ready, res result, msg string) (int, error) {
	wctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	attempts, err := f.store.RecordFailure(wctx, rd.Record.Seq, db.Failure{Status: res.status, Msg: msg, Ambiguous: res.ambiguous})
	if err != nil {
		f.log.Error("outbox: record failure", "seq", rd.Record.Seq, "err", err)
	}
	return attempts, err
}

// refuse handles a 4xx about the record itself: try again a few times
// (central may have been mid-deploy), then dead-letter it.
func (f *Forwarder) refuse(rd db.Ready, res result) {
	msg := res.describe()
	attempts, err := f.recordFailure(rd, res, msg)
	if err != nil {
		f.backoffKeys(rd.Keys, 1)
		return
	}
	// A refusal is an answer: central is up.
	f.mu.Lock()
	f.failures, f.openTill = 0, time.Time{}
	f.st.lastError = msg
	f.repauseLocked()
	f.mu.Unlock()
	if attempts < f.opt.MaxAttempts && !res.final {
		f.backoffKeys(rd.Keys, attempts)
		f.log.Warn("outbox: central refused record; will try again", "seq", rd.Record.Seq, "kind", rd.Record.Kind,
			"attempts", attempts, "of", f.opt.MaxAttempts, "err", msg)
		return
	}
	why := db.DeadReason{Status: res.status, Reason: msg, Response: res.body}
	wctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	if err := f.store.DeadLetter(wctx, rd.Record.Seq, why); err != nil {
		f.log.Error("outbox: dead-letter", "seq", rd.Record.Seq, "err", err)
		f.backoffKeys(rd.Keys, attempts)
		return
	}
	f.mu.Lock()
	f.st.dead++
	f.mu.Unlock()
	f.log.Error("outbox: record dead-lettered; see `enneo-edge outbox list`", "seq", rd.Record.Seq, "kind", rd.Record.Kind,
		"key", rd.Record.OrderKey(), "attempts", attempts, "status", res.status, "err", msg)
}

// park moves a follow-up that must not be sent yet beside the dead letter
// of its ticket: sent past it, it would reach central out of order (or,
// after a dead callReceived, name a local ID).
func (f *Forwarder) park(rd db.Ready, reason string) {
	why := db.DeadReason{Reason: reason, Parked: true}
	if rd.TicketState == "" && rd.Record.Kind != db.KindCallReceived {
		why = db.DeadReason{Reason: fmt.Sprintf("ticket %d is not stored at the edge", db.RecordTicket(rd.Record))}
	}
	wctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	if err := f.store.DeadLetter(wctx, rd.Record.Seq, why); err != nil {
		f.log.Error("outbox: park record", "seq", rd.Record.Seq, "err", err)
		f.backoffKeys(rd.Keys, 1)
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
		f.pauseGen++
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
