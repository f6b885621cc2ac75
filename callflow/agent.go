package callflow

import (
	"fmt"
	"time"

	"github.com/enneo-edge/enneo-edge/model"
)

// SetRoutingStatus applies PATCH /profile/{id}/routingStatus: the agent's
// call and/or chat status, compare-and-set with IfCurrent (mismatch is
// ErrConflict). Setting idle, beingConnected or acw while on a live call is
// refused (ErrConflict): only callCompleted ends a call, so an agent never
// holds two. Going offline or on a break mid-call keeps the call. Leaving a
// ring gives the call back to the queue. The request goes into the outbox
// as sent.
func (m *Machine) SetRoutingStatus(tx Tx, now time.Time, userID int64, c model.RoutingStatusChange) (*model.Presence, error) {
	var out *model.Presence
	err := func() error {
		f := m.newFlow(tx, now)
		p, err := tx.Presence(userID)
		if err != nil {
			return err
		}
		if c.IfCurrent != "" {
			field, cur := "callRoutingStatus", p.CallRoutingStatus
			if c.CallRoutingStatus == "" {
				field, cur = "chatRoutingStatus", p.ChatRoutingStatus
			}
			if cur != c.IfCurrent {
				return fmt.Errorf("%w: ifCurrent: %s of user %d is %s, not %s", ErrConflict, field, userID, cur, c.IfCurrent)
			}
		}
		if c.ChatRoutingStatus != "" {
			p.ChatRoutingStatus, p.UpdatedAt = c.ChatRoutingStatus, f.now
		}
		if to := c.CallRoutingStatus; to != "" {
			var ticket int64
			switch {
			case onCall(p) && (to == model.PresenceIdle || to == model.PresenceBeingConnected || to == model.PresenceACW):
				// These would let the call slip from the agent (timers end
				// beingConnected and acw), and then a second call could come.
				return fmt.Errorf("%w: callRoutingStatus: user %d is on a call (ticket %d); callCompleted ends it",
					ErrConflict, userID, p.CurrentTicketID)
			case onCall(p), to == p.CallRoutingStatus:
				ticket = p.CurrentTicketID
			}
			if err := f.setCall(p, to, ticket, "routingStatus"); err != nil {
				return err
			}
		}
		if err := tx.PutPresence(p); err != nil {
			return err
		}
		// Central gets the outcome, not the request: the edge has decided
		// the compare-and-set, and an ifCurrent at central would compare
		// against a presence that may lag the edge's by the backlog. A
		// request that changes nothing is forwarded too: central may have
		// moved the agent on its own.
		f.presenceMoved(userID, c.ChatRoutingStatus != "")
		if _, err := f.dispatch(); err != nil {
			return err
		}
		// dispatch may have offered the agent a call: answer what is
		// stored, not what was asked for.
		if out, err = tx.Presence(userID); err != nil {
			return err
		}
		return f.flush()
	}()
	return out, err
}

// AgentConnected applies agentConnected: the ticket is assigned to the
// agent, the agent becomes interacting and the queue entry
// currentlyProcessed. Another agent still ringing for the call is set idle.
// A repeat changes nothing. It returns the ticket ID.
func (m *Machine) AgentConnected(tx Tx, now time.Time, r model.AgentConnected) (int64, error) {
	var ticketID int64
	err := func() error {
		f := m.newFlow(tx, now)
		t, err := f.flowTicket(r.TicketID, r.ChannelID)
		if err != nil {
			return err
		}
		ticketID = t.ID
		if t.CallEndedAt != nil {
			return fmt.Errorf("%w: ticket %d: the call was already completed", ErrConflict, t.ID)
		}
		q, err := f.queueOf(t)
		if err != nil {
			return err
		}
		if q != nil && q.Status == model.QueueDeclined {
			return fmt.Errorf("%w: ticket %d: the call was declined (%s)", ErrConflict, t.ID, q.DeclineReasonCode)
		}
		p, err := tx.Presence(r.UserID)
		if err != nil {
			return err
		}
		if onCall(p) && p.CurrentTicketID != t.ID {
			return fmt.Errorf("%w: userId: user %d is on another call (ticket %d)", ErrConflict, r.UserID, p.CurrentTicketID)
		}
		if t.AgentID == r.UserID && p.CallRoutingStatus == model.PresenceInteracting && p.CurrentTicketID == t.ID &&
			(q == nil || q.Status == model.QueueCurrentlyProcessed) {
			return nil // a repeat
		}
		var ringing int64
		if q != nil {
			if q.Status == model.QueueAssigned && q.AssignedUserID != r.UserID {
				ringing = q.AssignedUserID
			}
			q.AssignedUserID, q.CallStartedAt = r.UserID, &f.now
			if q.RoutedAt == nil {
				q.RoutedAt = &f.now
			}
			if err := f.setQueue(q, t, model.QueueCurrentlyProcessed, map[string]any{"userId": r.UserID}); err != nil {
				return err
			}
		}
		if ringing != 0 {
			other, err := tx.Presence(ringing)
			if err != nil {
				return err
			}
			if other.CallRoutingStatus == model.PresenceBeingConnected && other.CurrentTicketID == t.ID {
				if err := f.setCall(other, model.PresenceIdle, 0, "answeredByOther"); err != nil {
					return err
				}
			}
		}
		t.AgentID = r.UserID
		f.event(t, "agentConnected", map[string]any{"userId": r.UserID})
		if err := f.setCall(p, model.PresenceInteracting, t.ID, "agentConnected"); err != nil {
			return err
		}
		r.TicketID = t.ID
		if err := f.outbox(KindAgentConnected, t.ID, r.UserID, r); err != nil {
			return err
		}
		if _, err := f.dispatch(); err != nil {
			return err
		}
		return f.flush()
	}()
	return ticketID, err
}

// CallCompleted applies callCompleted: the transcript is appended, the
// durations stored, the queue entry completed and the agent on the call
// moved to acw (an agent still ringing goes back to idle). A repeat for a
// call already completed changes nothing. It returns the ticket ID.
func (m *Machine) CallCompleted(tx Tx, now time.Time, r model.CallCompleted) (int64, error) {
	var ticketID int64
	err := func() error {
		f := m.newFlow(tx, now)
		t, err := f.flowTicket(r.TicketID, r.ChannelID)
		if err != nil {
			return err
		}
		ticketID = t.ID
		if t.CallEndedAt != nil {
			return nil // a repeat: the transcript is already there
		}
		t.Conversation = model.AppendConversation(t.Conversation, r.Transcript)
		d := r.Durations()
		t.Durations, t.CallEndedAt = &d, &f.now
		f.event(t, "callCompleted", map[string]any{"transcriptEntries": len(r.Transcript), "durations": d})
		q, err := f.queueOf(t)
		if err != nil {
			return err
		}
		agent := t.AgentID
		if q != nil && q.Status != model.QueueDeclined && q.Status != model.QueueCompleted {
			if q.AssignedUserID != 0 {
				agent = q.AssignedUserID
			}
			if err := f.recordHandleTime(q, d); err != nil {
				return err
			}
			if err := f.setQueue(q, t, model.QueueCompleted, nil); err != nil {
				return err
			}
		}
		if agent != 0 {
			if err := f.endCall(agent, t.ID); err != nil {
				return err
			}
		}
		r.TicketID = t.ID
		if err := f.outbox(KindCallCompleted, t.ID, agent, r); err != nil {
			return err
		}
		if _, err := f.dispatch(); err != nil {
			return err
		}
		return f.flush()
	}()
	return ticketID, err
}

// maxHandleTimes is how many recent handling times the wait estimate
// averages.
const maxHandleTimes = 20

// recordHandleTime keeps the handling time of a call a human took, for
// wait estimates: humanDurationSeconds when the PBX sent it, else the time
// since agentConnected.
func (f *flow) recordHandleTime(q *model.QueueEntry, d model.CallDurations) error {
	var ht time.Duration
	switch {
	case d.HumanSeconds != nil && *d.HumanSeconds > 0:
		ht = time.Duration(*d.HumanSeconds) * time.Second
	case q.CallStartedAt != nil:
		ht = f.now.Sub(*q.CallStartedAt)
	default:
		return nil
	}
	return f.tx.AppendHandleTime(ht, maxHandleTimes)
}
