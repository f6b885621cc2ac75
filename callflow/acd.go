package callflow

import (
	"errors"

	"github.com/enneo-edge/enneo-edge/model"
	"github.com/enneo-edge/enneo-edge/routing"
)

// Decline reason codes the edge's distributor gives.
const (
	DeclineNoAgents = "noAgentsOnline"
	DeclineMaxWait  = "maxWaitExceeded"
)

// dispatch offers waiting calls to idle agents (routing.Assign decides).
// It runs at the end of every state change, so after each transaction no
// waiting call has an idle agent who could take it. With no idle agent it
// costs one cursor step, which keeps it cheap on callReceived.
func (f *flow) dispatch() (int, error) {
	if !f.tx.AnyIdle() {
		return 0, nil
	}
	idle := f.tx.Idle()
	if !f.anyServable(idle) {
		// Idle agents while calls wait for skills none of them has: the
		// common state of a queue for one skill beside idle agents of
		// another. Asked per skill, it costs a seek per idle agent's
		// skill, not a read of every waiting call on every change.
		return 0, nil
	}
	waiting := f.tx.Waiting()
	if len(waiting) == 0 {
		return 0, nil
	}
	as := routing.Assign(waiting, idle)
	for _, a := range as {
		q, err := f.tx.QueueEntry(a.EntryID)
		if err != nil {
			return 0, err
		}
		t, err := f.ticket(q.TicketID)
		if err != nil {
			return 0, err
		}
		q.AssignedUserID, q.RoutedAt = a.AgentID, &f.now
		if err := f.setQueue(q, t, model.QueueAssigned, map[string]any{"userId": a.AgentID}); err != nil {
			return 0, err
		}
		p, err := f.tx.Presence(a.AgentID)
		if err != nil {
			return 0, err
		}
		if err := f.setCall(p, model.PresenceBeingConnected, t.ID, "routed"); err != nil {
			return 0, err
		}
	}
	return len(as), nil
}

// anyServable reports whether a waiting call has a tag one of the idle
// agents serves (routing.Serves): one without a tag, or one of an idle
// agent's skill. Without one, routing.Assign would assign nothing.
func (f *flow) anyServable(idle []routing.Agent) bool {
	if f.tx.AnyWaiting(0) {
		return true
	}
	for i := range idle {
		for _, tag := range idle[i].Skills {
			if tag != 0 && f.tx.AnyWaiting(tag) {
				return true
			}
		}
	}
	return false
}

// admit decides what becomes of a new routing=native call: it waits for
// an agent, or is declined at once when no logged-in agent has its skill.
func (f *flow) admit(q *model.QueueEntry, t *model.Ticket) error {
	tag, ok := f.m.routing.SubchannelTags[q.SubchannelID]
	if !ok {
		// The config names no skill for the line: central's line may.
		l, err := f.tx.Line(q.SubchannelID)
		if err != nil {
			return err
		}
		if l != nil {
			tag = l.TagID
		}
	}
	q.PrimaryTagID = tag
	if !f.tx.AnyOnline(q.PrimaryTagID) {
		q.Status, q.DeclineReasonCode = model.QueueDeclined, DeclineNoAgents
		q.DeclineReasonMessage = "No agent with matching skills is logged in"
		q.CompletedAt = &f.now
		f.event(t, "queueStatusChanged", map[string]any{"queueId": q.ID, "from": model.QueueWaitingForAgent,
			"to": model.QueueDeclined, "declineReasonCode": q.DeclineReasonCode, "declineReasonMessage": q.DeclineReasonMessage})
		return nil
	}
	return f.tx.IndexWaiting(q.ID, q.PrimaryTagID, q.CreatedAt)
}

func routingDefaults(c routing.Config) routing.Config {
	d := routing.DefaultConfig()
	if c.RingTimeout <= 0 {
		c.RingTimeout = d.RingTimeout
	}
	if c.MaxWait <= 0 {
		c.MaxWait = d.MaxWait
	}
	if c.ACW <= 0 {
		c.ACW = d.ACW
	}
	if c.DefaultHandleTime <= 0 {
		c.DefaultHandleTime = d.DefaultHandleTime
	}
	return c
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
