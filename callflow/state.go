package callflow

import (
	"github.com/enneo-edge/enneo-edge/model"
)

// The call state machine: a queue entry's status and an agent's call
// routing status move only through setQueue and setCall, which keep the
// routing indexes in step and record each change on the ticket.

// setQueue moves a queue entry to status, keeping the waiting index in
// step, and records the change on the ticket.
func (f *flow) setQueue(q *model.QueueEntry, t *model.Ticket, to string, data map[string]any) error {
	from := q.Status
	if from == model.QueueWaitingForAgent && to != from {
		if err := f.tx.UnindexWaiting(q.ID); err != nil {
			return err
		}
	}
	if to == model.QueueWaitingForAgent && from != to {
		if err := f.tx.IndexWaiting(q.ID, q.PrimaryTagID, q.CreatedAt); err != nil {
			return err
		}
	}
	q.Status, q.UpdatedAt = to, f.now
	switch to {
	case model.QueueCompleted, model.QueueDeclined:
		q.CompletedAt = &f.now
	}
	if data == nil {
		data = map[string]any{}
	}
	data["queueId"], data["from"], data["to"] = q.ID, from, to
	f.event(t, "queueStatusChanged", data)
	return f.tx.PutQueueEntry(*q)
}

// decline ends a waiting call without an agent.
func (f *flow) decline(q *model.QueueEntry, t *model.Ticket, code, msg string) error {
	q.DeclineReasonCode, q.DeclineReasonMessage = code, msg
	return f.setQueue(q, t, model.QueueDeclined, map[string]any{"declineReasonCode": code, "declineReasonMessage": msg})
}

// setCall moves an agent's call status and the call they hold (0 = none),
// records the change on the ticket concerned and keeps the idle and online
// indexes in step. Leaving a ring for anything but the same ticket gives
// the call back to the queue, so no waiting caller is ever lost.
func (f *flow) setCall(p *model.Presence, to string, ticket int64, cause string) error {
	from, held := p.CallRoutingStatus, p.CurrentTicketID
	if from == to && held == ticket {
		return nil
	}
	if from == model.PresenceBeingConnected && held != 0 && held != ticket {
		if err := f.releaseRing(p.UserID, held, cause); err != nil {
			return err
		}
	}
	if from == model.PresenceIdle && held == 0 {
		if err := f.tx.UnindexIdle(p.CallStatusSince, p.UserID); err != nil {
			return err
		}
	}
	if from != to {
		p.CallStatusSince = f.now
	}
	if to == model.PresenceIdle && ticket == 0 {
		if err := f.tx.IndexIdle(p.CallStatusSince, p.UserID); err != nil {
			return err
		}
	}
	switch {
	case to == model.PresenceOffline:
		if err := f.tx.UnindexOnline(p.UserID); err != nil {
			return err
		}
	case !f.tx.Online(p.UserID):
		// Coming online (or a presence written before the index existed).
		if err := f.indexOnline(p.UserID); err != nil {
			return err
		}
	}
	p.CallRoutingStatus, p.CurrentTicketID, p.UpdatedAt = to, ticket, f.now
	if from != to {
		timer, err := f.lineTimer(to, ticket)
		if err != nil {
			return err
		}
		p.TimerSeconds = timer
	}
	if err := f.tx.PutPresence(p); err != nil {
		return err
	}
	if from != to {
		f.presenceMoved(p.UserID, false)
	}
	on := ticket
	if on == 0 {
		on = held
	}
	if on != 0 && from != to {
		t, err := f.ticket(on)
		if err != nil {
			return err
		}
		f.event(t, "presenceChanged", map[string]any{"userId": p.UserID, "from": from, "to": to, "cause": cause})
	}
	return nil
}

// lineTimer is the ring (beingConnected) or after-call (acw) time the
// phone line of ticket gives, 0 when it gives none or the status has no
// timer.
func (f *flow) lineTimer(status string, ticket int64) (int64, error) {
	if ticket == 0 || (status != model.PresenceBeingConnected && status != model.PresenceACW) || !f.tx.AnyLine() {
		return 0, nil
	}
	t, err := f.ticket(ticket)
	if err != nil {
		return 0, err
	}
	l, err := f.tx.Line(t.SubchannelID)
	if err != nil || l == nil {
		return 0, err
	}
	if status == model.PresenceBeingConnected {
		return l.RingTimeSeconds, nil
	}
	return l.ACWSeconds, nil
}

// indexOnline records an online agent with their skills, which is all
// routing needs to know about them besides their presence.
func (f *flow) indexOnline(userID int64) error {
	a, err := f.tx.Agent(userID)
	if err != nil && !isNotFound(err) {
		return err
	}
	var skills []int64
	if a != nil {
		skills = a.SkillTagIDs
	}
	return f.tx.IndexOnline(userID, skills)
}

// releaseRing gives a call back to the queue when the agent it was ringing
// for stops ringing without answering; it keeps its arrival place.
func (f *flow) releaseRing(userID, ticketID int64, cause string) error {
	t, err := f.ticket(ticketID)
	if err != nil {
		return err
	}
	q, err := f.queueOf(t)
	if err != nil || q == nil || q.Status != model.QueueAssigned || q.AssignedUserID != userID {
		return err
	}
	q.AssignedUserID, q.RoutedAt = 0, nil
	return f.setQueue(q, t, model.QueueWaitingForAgent, map[string]any{"userId": userID, "reason": cause})
}

// onCall reports whether the agent is on a live call: holding a ticket
// they are not merely ringing for or wrapping up. An agent who goes
// offline mid-call keeps the call until callCompleted ends it.
func onCall(p *model.Presence) bool {
	switch p.CallRoutingStatus {
	case model.PresenceBeingConnected, model.PresenceACW, model.PresenceIdle:
		return false
	}
	return p.CurrentTicketID != 0
}

// endCall frees the agent of a call that ended: a talking agent goes to
// after-call work, a ringing one back to idle, one who went offline or on
// a break mid-call stays there without the call.
func (f *flow) endCall(userID, ticketID int64) error {
	p, err := f.tx.Presence(userID)
	if err != nil || p.CurrentTicketID != ticketID {
		return err
	}
	switch p.CallRoutingStatus {
	case model.PresenceInteracting:
		return f.setCall(p, model.PresenceACW, ticketID, "callCompleted")
	case model.PresenceBeingConnected:
		return f.setCall(p, model.PresenceIdle, 0, "callerHungUp")
	case model.PresenceACW:
		return nil // acw already; the timer frees them
	}
	return f.setCall(p, p.CallRoutingStatus, 0, "callCompleted")
}
