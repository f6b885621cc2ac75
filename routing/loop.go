package routing

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/enneo-edge/enneo-edge/clock"
)

// Expirer applies the timers that have run out (ring timeouts, after-call
// work, maximum wait) as one durable transaction and says how many changes
// it made. *db.Store is one.
type Expirer interface {
	ExpireDue(ctx context.Context) (int, error)
}

// Loop applies the distributor's timers in the background: every Interval
// it asks its Expirer to apply what is due. The time the timers are judged
// by is the Expirer's clock; the loop only sets the cadence, so tests
// drive the timers by moving the store's clock and calling ExpireDue.
type Loop struct {
	exp      Expirer
	interval time.Duration
	clock    clock.Clock
	log      *slog.Logger

	running atomic.Bool
	stopped chan struct{}
}

// NewLoop builds a loop; clk sets its cadence (nil: the wall clock).
func NewLoop(exp Expirer, interval time.Duration, clk clock.Clock, log *slog.Logger) *Loop {
	if interval <= 0 {
		interval = time.Second
	}
	return &Loop{exp: exp, interval: interval, clock: clock.Or(clk), log: log, stopped: make(chan struct{})}
}

// Run applies due timers every interval until ctx ends. Errors are logged
// and retried at the next tick: a timer that could not be applied is still
// due then.
func (l *Loop) Run(ctx context.Context) {
	if l.running.Swap(true) {
		return
	}
	defer close(l.stopped)
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.clock.After(l.interval):
		}
		tctx, cancel := context.WithTimeout(ctx, 10*l.interval+5*time.Second)
		n, err := l.exp.ExpireDue(tctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			l.log.Error("routing timers", "err", err)
		case n > 0:
			l.log.Debug("routing timers applied", "changes", n)
		}
	}
}

// Close waits until Run has returned (cancel its context first); a loop
// that never ran closes at once.
func (l *Loop) Close() {
	if l.running.Swap(true) {
		<-l.stopped
	}
}
