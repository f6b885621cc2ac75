package callflow

import (
	"fmt"
	"time"

	"github.com/enneo-edge/enneo-edge/model"
	"github.com/enneo-edge/enneo-edge/routing"
)

// ReEvaluate applies the timers that have run out at now: agents who rang
// for the ring time become notResponding and their call is offered again,
// agents whose after-call work is over become idle, calls that waited the
// maximum are declined; then waiting calls are offered to idle agents.
// With clean (getRouting's cleanState) it first resets agents whose
// routing state no live call backs. It returns the number of changes.
func (m *Machine) ReEvaluate(tx Tx, now time.Time, clean bool) (int, error) {
	f := m.newFlow(tx, now)
	n := 0
	if clean {
		c, err := f.cleanState()
		if err != nil {
			return 0, err
		}
		n += c
	}
	due, err := m.Due(tx, f.now)
	if err != nil {
		return 0, err
	}
	for _, id := range due.RingExpired {
		p, err := tx.Presence(id)
		if err != nil {
			return 0, err
		}
		if err := f.setCall(p, model.PresenceNotResponding, 0, "ringTimeout"); err != nil {
			return 0, err
		}
	}
	for _, id := range due.ACWDone {
		p, err := tx.Presence(id)
		if err != nil {
			return 0, err
		}
		if err := f.setCall(p, model.PresenceIdle, 0, "acwDone"); err != nil {
			return 0, err
		}
	}
	for _, id := range due.Expired {
		q, err := tx.QueueEntry(id)
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
		msg := fmt.Sprintf("Waited %s for an agent, the limit", m.routing.MaxWait)
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

// Due reads the agents with running timers and the waiting calls and
// asks routing which timers have run out at now. It only reads.
func (m *Machine) Due(tx Tx, now time.Time) (routing.Due, error) {
	var agents []routing.Agent
	err := tx.EachBusyPresence(func(p *model.Presence) error {
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
	var waiting []routing.Entry
	if m.routing.MaxWait > 0 {
		// Only these can have waited the maximum (routing.DueAt's rule:
		// createdAt + MaxWait <= now).
		waiting = tx.WaitingCreatedBy(now.Add(-m.routing.MaxWait))
	}
	return routing.DueAt(m.routing, now, agents, waiting), nil
}

// cleanState frees agents whose state no live call backs.
func (f *flow) cleanState() (int, error) {
	stale, err := Stale(f.tx)
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

// Stale lists the agents cleanState frees: notResponding ones, and those
// ringing for or talking on a call that is no longer theirs. It only
// reads.
func Stale(tx Tx) ([]*model.Presence, error) {
	var stale []*model.Presence
	err := tx.EachBusyPresence(func(p *model.Presence) error {
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
func holds(tx Tx, p *model.Presence) (bool, error) {
	if p.CurrentTicketID == 0 {
		return false, nil
	}
	t, err := tx.Ticket(p.CurrentTicketID)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil || t.CallEndedAt != nil {
		return false, err
	}
	var q *model.QueueEntry
	if t.QueueID != 0 {
		q, err = tx.QueueEntry(t.QueueID)
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
