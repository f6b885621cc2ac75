// Package retention deletes what the edge no longer needs to keep: tickets
// central has had for longer than the configured retention, or on an
// air-gapped site (where nothing ever reaches central) tickets and records
// whose last change is older than retention.air_gapped.
package retention

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/enneo-edge/enneo-edge/clock"
)

// defaultBatch bounds one pruning transaction, so pruning a month of
// tickets never holds the writer for long.
const defaultBatch = 1000

// Store is what the pruner needs of the database (db.Store): one bounded
// batch of deletions per call, returning how many tickets (and, air-gapped,
// records) it removed.
type Store interface {
	PruneSynced(ctx context.Context, cutoff time.Time, limit int) (int, error)
	PruneAirGapped(ctx context.Context, cutoff time.Time, limit int) (tickets, records int, err error)
}

// Pruner deletes synced tickets older than Keep, every Interval. Tickets
// with records still on their way (pending or dead-lettered) are never
// deleted. Build it with New, start it with Run, stop it by cancelling
// Run's context and calling Close.
type Pruner struct {
	store    Store
	log      *slog.Logger
	clock    clock.Clock
	keep     time.Duration
	interval time.Duration
	batch    int
	// airGapped prunes by age of last change, records included
	// (db.PruneAirGapped), instead of synced tickets.
	airGapped bool

	running atomic.Bool
	stopped chan struct{}
}

// New builds a pruner keeping synced tickets for keep; it runs once at
// start and then every interval (0 means an hour, or keep/10 when that is
// shorter). clk may be nil for the wall clock.
func New(store Store, log *slog.Logger, keep, interval time.Duration, clk clock.Clock) *Pruner {
	if interval <= 0 {
		interval = min(time.Hour, max(keep/10, time.Second))
	}
	return &Pruner{store: store, log: log, clock: clock.Or(clk), keep: keep, interval: interval, batch: defaultBatch, stopped: make(chan struct{})}
}

// NewAirGapped is New for a site without upstream: it deletes tickets
// whose last change is older than keep, with their records.
func NewAirGapped(store Store, log *slog.Logger, keep, interval time.Duration, clk clock.Clock) *Pruner {
	p := New(store, log, keep, interval, clk)
	p.airGapped = true
	return p
}

// Run prunes until ctx ends.
func (p *Pruner) Run(ctx context.Context) {
	if p.running.Swap(true) {
		return
	}
	defer close(p.stopped)
	for {
		if n, err := p.Prune(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			p.log.Error("retention: prune tickets", "airGapped", p.airGapped, "err", err)
		} else if n > 0 {
			p.log.Info("retention: pruned tickets", "tickets", n, "olderThan", p.keep.String(), "airGapped", p.airGapped)
		}
		select {
		case <-ctx.Done():
			return
		case <-p.clock.After(p.interval):
		}
	}
}

// Prune deletes every synced ticket older than the retention now, in
// batches, and returns how many went.
func (p *Pruner) Prune(ctx context.Context) (int, error) {
	cutoff := p.clock.Now().Add(-p.keep)
	total := 0
	for {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		var n int
		var err error
		if p.airGapped {
			n, _, err = p.store.PruneAirGapped(wctx, cutoff, p.batch)
		} else {
			n, err = p.store.PruneSynced(wctx, cutoff, p.batch)
		}
		cancel()
		total += n
		if err != nil || n < p.batch {
			return total, err
		}
	}
}

// Close waits for Run to return; cancel Run's context first.
func (p *Pruner) Close() {
	if p.running.Swap(true) {
		<-p.stopped
	}
}
