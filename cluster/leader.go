package cluster

import (
	"context"
	"sync/atomic"
	"time"
)

// Leading runs the leader-only work (routing timers, the forwarder to
// central, the directory pull, the pruner) while this member leads, and
// stops it when leadership goes: each term gets fresh instances, so a new
// leader's forwarder starts like a restarted one (it reads the replicated
// send lease and looks up every record up to it before sending).
type Leading struct {
	n       *Node
	start   func() (stop func())
	running atomic.Bool
	stopped chan struct{}
}

// NewLeading prepares work to run while n leads; start starts it and
// returns its stop, which must wait for it to end.
func NewLeading(n *Node, start func() (stop func())) *Leading {
	return &Leading{n: n, start: start, stopped: make(chan struct{})}
}

// pollLeading catches a change LeaderCh coalesced away.
const pollLeading = 250 * time.Millisecond

// Run follows leadership until ctx ends, then stops the work.
func (l *Leading) Run(ctx context.Context) {
	if l.running.Swap(true) {
		return
	}
	defer close(l.stopped)
	var stop func()
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	tick := time.NewTicker(pollLeading)
	defer tick.Stop()
	for {
		leads := l.n.IsLeader()
		switch {
		case leads && stop == nil:
			// Everything earlier terms committed must be in the file
			// before the loops read it.
			wctx, cancel := context.WithTimeout(ctx, applyTimeout)
			err := l.n.WaitApplied(wctx)
			cancel()
			if err == nil && l.n.IsLeader() {
				l.n.log.Info("cluster: leading; starting timers, forwarder, pull and pruner")
				stop = l.start()
			}
		case !leads && stop != nil:
			l.n.log.Info("cluster: no longer leading; stopping timers, forwarder, pull and pruner")
			stop()
			stop = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-l.n.LeaderCh():
		case <-tick.C:
		}
	}
}

// Close waits for Run to return (its context must end first).
func (l *Leading) Close() {
	if l.running.Swap(true) {
		<-l.stopped
	}
}
