package db

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/model"
)

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

// SetRoutingStatus applies PATCH /profile/{id}/routingStatus: the agent's
// call and/or chat status, compare-and-set with IfCurrent (mismatch is
// ErrConflict). Setting idle, beingConnected or acw while on a live call is
// refused (ErrConflict): only callCompleted ends a call, so an agent never
// holds two. Going offline or on a break mid-call keeps the call. Leaving a
// ring gives the call back to the queue. The request goes into the outbox
// as sent.
func (s *Store) SetRoutingStatus(ctx context.Context, userID int64, c model.RoutingStatusChange) (*model.Presence, error) {
	var out *model.Presence
	err := s.write(ctx, func(tx *bolt.Tx) error {
		f := s.newFlow(tx)
		p, err := getPresence(tx, userID)
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
		if err := putPresence(tx, p); err != nil {
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
		if out, err = getPresence(tx, userID); err != nil {
			return err
		}
		return f.flush()
	})
	return out, err
}

// flowTicket resolves the ticket a request names: ticketId wins over
// channelId when both are given.
func (f *flow) flowTicket(ticketID int64, channelID string) (*model.Ticket, error) {
	if ticketID != 0 {
		return f.ticket(ticketID)
	}
	v := f.tx.Bucket(bucketChannels).Get([]byte(channelID))
	if v == nil {
		return nil, fmt.Errorf("channelId %q: %w", channelID, ErrNotFound)
	}
	return f.ticket(fromU64(v))
}

// AgentConnected applies agentConnected: the ticket is assigned to the
// agent, the agent becomes interacting and the queue entry
// currentlyProcessed. Another agent still ringing for the call is set idle.
// A repeat changes nothing. It returns the ticket ID.
func (s *Store) AgentConnected(ctx context.Context, r model.AgentConnected) (int64, error) {
	var ticketID int64
	err := s.write(ctx, func(tx *bolt.Tx) error {
		f := s.newFlow(tx)
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
		p, err := getPresence(tx, r.UserID)
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
			other, err := getPresence(tx, ringing)
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
		if err := f.outbox(OutboxRecord{Kind: KindAgentConnected, TicketID: t.ID, UserID: r.UserID}, r); err != nil {
			return err
		}
		if _, err := f.dispatch(); err != nil {
			return err
		}
		return f.flush()
	})
	return ticketID, err
}

// outbox appends r with body encoded as the request central gets.
func (f *flow) outbox(r OutboxRecord, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode %s outbox record: %w", r.Kind, err)
	}
	r.Body, r.CreatedAt = b, f.now
	return appendOutbox(f.tx, r)
}

// CallCompleted applies callCompleted: the transcript is appended, the
// durations stored, the queue entry completed and the agent on the call
// moved to acw (an agent still ringing goes back to idle). A repeat for a
// call already completed changes nothing. It returns the ticket ID.
func (s *Store) CallCompleted(ctx context.Context, r model.CallCompleted) (int64, error) {
	var ticketID int64
	err := s.write(ctx, func(tx *bolt.Tx) error {
		f := s.newFlow(tx)
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
		if err := f.outbox(OutboxRecord{Kind: KindCallCompleted, TicketID: t.ID, UserID: agent}, r); err != nil {
			return err
		}
		if _, err := f.dispatch(); err != nil {
			return err
		}
		return f.flush()
	})
	return ticketID, err
}

// endCall frees the agent of a call that ended: a talking agent goes to
// after-call work, a ringing one back to idle, one who went offline or on
// a break mid-call stays there without the call.
func (f *flow) endCall(userID, ticketID int64) error {
	p, err := getPresence(f.tx, userID)
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
	m := f.tx.Bucket(bucketMeta)
	old := m.Get(metaHandleTimes)
	if len(old) >= 8*maxHandleTimes {
		old = old[len(old)-8*(maxHandleTimes-1):]
	}
	v := make([]byte, len(old)+8)
	copy(v, old)
	binary.BigEndian.PutUint64(v[len(old):], uint64(ht))
	return m.Put(metaHandleTimes, v)
}

func handleTimes(tx *bolt.Tx) []time.Duration {
	v := tx.Bucket(bucketMeta).Get(metaHandleTimes)
	out := make([]time.Duration, len(v)/8)
	for i := range out {
		out[i] = time.Duration(binary.BigEndian.Uint64(v[8*i:]))
	}
	return out
}
