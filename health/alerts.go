// Package health watches the appliance beside its HTTP server: what the
// forwarder to central reports (Upstream, shown by the status page) and the
// alerts an operator reads in the journal and `systemctl status`.
package health

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/enneo-edge/enneo-edge/clock"
	"github.com/enneo-edge/enneo-edge/db"
)

// Alerts watches the outbox and the forwarder and says so in the log when
// an operator must act: forwarding paused (central refused the
// credentials), new dead letters, a backlog growing old. It also keeps a
// one-line summary for `systemctl status`.
type Alerts struct {
	outbox   Outbox
	upstream func() Upstream
	log      *slog.Logger
	clock    clock.Clock
	every    time.Duration
	oldAfter time.Duration // backlog age that earns a warning
	summary  func(string)

	paused      bool
	deadLetters int64
	stuck       int64
	old         bool
	done        chan struct{}
}

// Outbox is the part of the store the alerts read (db.Store).
type Outbox interface {
	OutboxStatus() (db.OutboxStatus, error)
}

// NewAlerts builds the watcher: it looks every interval and warns when the
// oldest pending record is older than oldAfter. upstream may be nil (no
// forwarder yet); clk may be nil for the wall clock; summary, when set,
// receives a status line each round (sdnotify.Status).
func NewAlerts(outbox Outbox, upstream func() Upstream, log *slog.Logger, clk clock.Clock, every, oldAfter time.Duration, summary func(string)) *Alerts {
	if upstream == nil {
		upstream = func() Upstream { return Upstream{} }
	}
	return &Alerts{outbox: outbox, upstream: upstream, log: log, clock: clock.Or(clk), every: every, oldAfter: oldAfter,
		summary: summary, done: make(chan struct{})}
}

// Run checks every interval until ctx ends.
func (a *Alerts) Run(ctx context.Context) {
	defer close(a.done)
	for {
		a.check()
		select {
		case <-ctx.Done():
			return
		case <-a.clock.After(a.every):
		}
	}
}

// Close waits for Run to return; start Run and cancel its context first.
func (a *Alerts) Close() { <-a.done }

// check compares the state with the last round and logs the changes only,
// so a paused forwarder is one warning, not one a minute.
func (a *Alerts) check() {
	up := a.upstream()
	if up.Paused && !a.paused {
		a.log.Warn("forwarding to central paused: central refused the edge's credentials; calls are still answered and kept in the outbox",
			"reason", up.PauseReason)
	} else if !up.Paused && a.paused {
		a.log.Info("forwarding to central resumed")
	}
	a.paused = up.Paused
	if up.DeadLetters > a.deadLetters {
		a.log.Warn("outbox records dead-lettered: central refused them; see GET /edge/v1/outbox",
			"new", up.DeadLetters-a.deadLetters, "total", up.DeadLetters)
	}
	a.deadLetters = up.DeadLetters
	if up.Stuck > a.stuck {
		a.log.Warn("outbox records stuck: central keeps failing them; they are retried, `enneo-edge outbox list` shows them and `outbox dead-letter SEQ` gives one up",
			"new", up.Stuck-a.stuck, "total", up.Stuck)
	}
	a.stuck = up.Stuck

	st, err := a.outbox.OutboxStatus()
	if err != nil {
		a.log.Warn("read outbox status", "err", err)
		return
	}
	age := time.Duration(st.OldestPendingAge * float64(time.Second))
	old := up.Configured && st.Pending > 0 && age > a.oldAfter
	if old && !a.old {
		a.log.Warn("outbox backlog is getting old: central has not taken records for a while",
			"pending", st.Pending, "oldest", age.Round(time.Second).String(), "reachable", up.Reachable)
	} else if !old && a.old {
		a.log.Info("outbox backlog is moving again", "pending", st.Pending)
	}
	a.old = old
	if a.summary != nil {
		a.summary(summaryLine(st, up))
	}
}

func summaryLine(st db.OutboxStatus, up Upstream) string {
	switch {
	case !up.Configured:
		return fmt.Sprintf("answering calls; air-gapped, %d records kept for central", st.Pending)
	case up.Paused:
		return fmt.Sprintf("answering calls; forwarding PAUSED (%s), %d pending", up.PauseReason, st.Pending)
	default:
		return fmt.Sprintf("answering calls; outbox %d pending, oldest %.0f s, %d dead letters",
			st.Pending, st.OldestPendingAge, up.DeadLetters)
	}
}
