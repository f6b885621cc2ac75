package db

import (
	"context"
	"time"

	"github.com/enneo-edge/enneo-edge/callflow"
	"github.com/enneo-edge/enneo-edge/routing"
)

// ExpireDue applies the distributor's timers that have run out at the
// store's clock, in one durable transaction (callflow.Machine.ReEvaluate).
// It reads first and writes only when something is due, so an idle edge
// does not fsync every tick. It returns the number of timers applied.
func (s *Store) ExpireDue(ctx context.Context) (int, error) {
	var due routing.Due
	err := s.read(func(tx callflow.Tx) error {
		var err error
		due, err = s.flow.Due(tx, s.now().UTC())
		return err
	})
	if err != nil || due.Empty() {
		return 0, err
	}
	var n int
	if s.repl != nil {
		err := s.submit(ctx, opExpireDue, nil, &n)
		return n, err
	}
	err = s.apply(ctx, func(tx callflow.Tx, now time.Time) error {
		var err error
		n, err = s.flow.ReEvaluate(tx, now, false)
		return err
	})
	return n, err
}

// ReEvaluate runs routing now (getRouting's forceReEvaluation): due
// timers, then offers. With clean (getRouting's cleanState) it first
// resets agents whose routing state no live call backs: notResponding
// agents, and agents ringing for or talking on a call that is no longer
// theirs, become idle. Offers need no re-evaluation (every commit already
// made them), so when no timer is due and nothing is stale it only reads:
// a PBX that always polls with forceReEvaluation costs no fsync.
func (s *Store) ReEvaluate(ctx context.Context, clean bool) error {
	if !clean {
		_, err := s.ExpireDue(ctx)
		return err
	}
	var stale int
	err := s.read(func(tx callflow.Tx) error {
		st, err := callflow.Stale(tx)
		stale = len(st)
		return err
	})
	if err != nil {
		return err
	}
	if stale == 0 {
		_, err := s.ExpireDue(ctx)
		return err
	}
	if s.repl != nil {
		return s.submit(ctx, opReEvaluate, clean, nil)
	}
	return s.apply(ctx, func(tx callflow.Tx, now time.Time) error {
		_, err := s.flow.ReEvaluate(tx, now, clean)
		return err
	})
}
