package db

import (
	"context"
	"fmt"
	"time"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/model"
	"github.com/enneo-edge/enneo-edge/routing"
)

// ExpireDue applies the distributor's timers that have run out at the
// store's clock, in one durable transaction: agents who rang for the ring
// time become notResponding and their call is offered again, agents whose
// after-call work is over become idle, calls that waited the maximum are
// declined; then waiting calls are offered to idle agents. It reads first
// and writes only when something is due, so an idle edge does not fsync
// every tick. It returns the number of timers applied.
func (s *Store) ExpireDue(ctx context.Context) (int, error) {
	var due routing.Due
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		due, err = s.dueIn(tx, s.now().UTC())
		return err
	})
	if err != nil || due.Empty() {
		return 0, err
	}
	var n int
	err = s.write(ctx, func(tx *bolt.Tx) error {
		var err error
		n, err = s.reEvaluate(tx, false)
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
	err := s.view(func(tx *bolt.Tx) error {
		st, err := staleAgents(tx)
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
	return s.write(ctx, func(tx *bolt.Tx) error {
		_, err := s.reEvaluate(tx, clean)
		return err
	})
}

func (s *Store) reEvaluate(tx *bolt.Tx, clean bool) (int, error) {
	f := s.newFlow(tx)
	n := 0
	if clean {
		c, err := f.cleanState()
		if err != nil {
			return 0, err
		}
		n += c
	}
	due, err := s.dueIn(tx, f.now)
	if err != nil {
		return 0, err
	}
	for _, id := range due.RingExpired {
		p, err := getPresence(tx, id)
		if err != nil {
			return 0, err
		}
		if err := f.setCall(p, model.PresenceNotResponding, 0, "ringTimeout"); err != nil {
			return 0, err
		}
	}
	for _, id := range due.ACWDone {
		p, err := getPresence(tx, id)
		if err != nil {
			return 0, err
		}
		if err := f.setCall(p, model.PresenceIdle, 0, "acwDone"); err != nil {
			return 0, err
		}
	}
	for _, id := range due.Expired {
		q, err := getQueueEntry(tx, id)
		if err != nil {
			return 0, err
		}
		if q.Status != model.QueueWaitingForAgent {
			continue
		}
		t, err := f.ticket(q.TicketID)
		if err != nil {
			return 0, err
		}
		msg := fmt.Sprintf("Waited %s for an agent, the limit", s.routing.MaxWait)
		if err := f.decline(q, t, DeclineMaxWait, msg); err != nil {
			return 0, err
		}
	}
	n += len(due.RingExpired) + len(due.ACWDone) + len(due.Expired)
	d, err := f.dispatch()
	if err != nil {
		return 0, err
	}
	return n + d, f.flush()
}

// dueIn reads the agents with running timers and the waiting calls and
// asks routing which timers have run out.
func (s *Store) dueIn(tx *bolt.Tx, now time.Time) (routing.Due, error) {
	var agents []routing.Agent
	err := eachPresence(tx, func(p *model.Presence) error {
		switch p.CallRoutingStatus {
		case model.PresenceBeingConnected, model.PresenceACW:
			a := routing.Agent{ID: p.UserID, Status: p.CallRoutingStatus, Since: p.CallStatusSince, Ticket: p.CurrentTicketID}
			if p.CallRoutingStatus == model.PresenceBeingConnected {
				a.RingTimeout = time.Duration(p.TimerSeconds) * time.Second
			} else {
				a.ACW = time.Duration(p.TimerSeconds) * time.Second
			}
			agents = append(agents, a)
		}
		return nil
	})
	if err != nil {
		return routing.Due{}, err
	}
	return routing.DueAt(s.routing, now, agents, waitingEntries(tx)), nil
}

func eachPresence(tx *bolt.Tx, fn func(p *model.Presence) error) error {
	c := tx.Bucket(bucketPresence).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		p := new(model.Presence)
		if err := json.Unmarshal(v, p); err != nil {
			return fmt.Errorf("decode presence of %d: %w", fromU64(k), err)
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// cleanState frees agents whose state no live call backs.
func (f *flow) cleanState() (int, error) {
	stale, err := staleAgents(f.tx)
	if err != nil {
		return 0, err
	}
	for _, p := range stale {
		if err := f.setCall(p, model.PresenceIdle, 0, "cleanState"); err != nil {
			return 0, err
		}
	}
	return len(stale), nil
}

// staleAgents lists the agents cleanState frees: notResponding ones, and
// those ringing for or talking on a call that is no longer theirs. It only
// reads.
func staleAgents(tx *bolt.Tx) ([]*model.Presence, error) {
	var stale []*model.Presence
	err := eachPresence(tx, func(p *model.Presence) error {
		switch p.CallRoutingStatus {
		case model.PresenceNotResponding:
			stale = append(stale, p)
		case model.PresenceBeingConnected, model.PresenceInteracting:
			live, err := holds(tx, p)
			if err != nil {
				return err
			}
			if !live {
				stale = append(stale, p)
			}
		}
		return nil
	})
	return stale, err
}

// holds reports whether the call the agent holds is still theirs and not
// over.
func holds(tx *bolt.Tx, p *model.Presence) (bool, error) {
	if p.CurrentTicketID == 0 {
		return false, nil
	}
	t, err := getTicket(tx, p.CurrentTicketID)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil || t.CallEndedAt != nil {
		return false, err
	}
	var q *model.QueueEntry
	if t.QueueID != 0 {
		q, err = getQueueEntry(tx, t.QueueID)
	}
	if err != nil || q == nil {
		return q == nil && err == nil, err
	}
	want := model.QueueCurrentlyProcessed
	if p.CallRoutingStatus == model.PresenceBeingConnected {
		want = model.QueueAssigned
	}
	return q.Status == want && q.AssignedUserID == p.UserID, nil
}
