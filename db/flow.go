package db

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/model"
	"github.com/enneo-edge/enneo-edge/routing"
)

// flow is one use case's view of the call flow inside a write transaction:
// it loads each touched ticket once, records every state change as an
// event on its ticket, keeps the routing indexes (waiting entries, idle and
// online agents) in step with the records, and writes the tickets back at
// the end. The indexes live in bbolt, so they survive restarts and every
// routing decision is part of the transaction that caused it.
type flow struct {
	s       *Store
	tx      *bolt.Tx
	now     time.Time
	tickets map[int64]*model.Ticket
	order   []int64
	// moved lists the agents whose presence the flow changed, in the order
	// of their first change; chat marks those whose chat status was set.
	// flush forwards each one's final presence to central.
	moved []int64
	chat  map[int64]bool
}

func (s *Store) newFlow(tx *bolt.Tx) *flow {
	return &flow{s: s, tx: tx, now: s.now().UTC()}
}

// ticket loads a ticket once per flow; flush writes it back.
func (f *flow) ticket(id int64) (*model.Ticket, error) {
	if t, ok := f.tickets[id]; ok {
		return t, nil
	}
	t, err := getTicket(f.tx, id)
	if err != nil {
		return nil, err
	}
	f.adopt(t)
	return t, nil
}

// adopt makes a ticket built in memory part of the flow.
func (f *flow) adopt(t *model.Ticket) {
	if f.tickets == nil {
		f.tickets = make(map[int64]*model.Ticket, 2)
	}
	f.tickets[t.ID] = t
	f.order = append(f.order, t.ID)
}

func (f *flow) event(t *model.Ticket, typ string, data map[string]any) {
	t.Events = append(t.Events, model.Event{Type: typ, At: f.now, Data: data})
	t.ModifiedAt = f.now
}

// flush writes every ticket the flow touched and queues, for each agent
// whose presence it changed, that agent's presence for central.
func (f *flow) flush() error {
	for _, id := range f.order {
		if err := putTicket(f.tx, f.tickets[id]); err != nil {
			return err
		}
	}
	return f.forwardPresence()
}

// presenceMoved notes that the flow changed an agent's presence.
func (f *flow) presenceMoved(userID int64, chat bool) {
	if f.chat == nil {
		f.chat = make(map[int64]bool, 2)
	}
	if _, ok := f.chat[userID]; !ok {
		f.moved = append(f.moved, userID)
	}
	f.chat[userID] = f.chat[userID] || chat
}

// forwardPresence appends one routingStatus record per agent the flow
// moved, with the presence the transaction ends in. Central follows every
// transition the edge makes (ring, timeout, after-call work, requests)
// because each transaction that makes one queues it; several in one
// transaction coalesce into the last. The records share the agent's order
// key with the agent's call follow-ups, so central sees them in the edge's
// order. The chat status goes along only when it was set: the edge does
// not route chats, and must not overwrite central's chat presence.
func (f *flow) forwardPresence() error {
	for _, id := range f.moved {
		p, err := getPresence(f.tx, id)
		if err != nil {
			return err
		}
		body := model.RoutingStatusChange{CallRoutingStatus: p.CallRoutingStatus}
		if f.chat[id] {
			body.ChatRoutingStatus = p.ChatRoutingStatus
		}
		if err := f.outbox(OutboxRecord{Kind: KindRoutingStatus, UserID: id}, body); err != nil {
			return err
		}
	}
	f.moved, f.chat = f.moved[:0], nil
	return nil
}

func (f *flow) queueOf(t *model.Ticket) (*model.QueueEntry, error) {
	if t.QueueID == 0 {
		return nil, nil
	}
	return getQueueEntry(f.tx, t.QueueID)
}

// setQueue moves a queue entry to status, keeping the waiting index in
// step, and records the change on the ticket.
func (f *flow) setQueue(q *model.QueueEntry, t *model.Ticket, to string, data map[string]any) error {
	from := q.Status
	w := f.tx.Bucket(bucketWaiting)
	if from == model.QueueWaitingForAgent && to != from {
		if err := w.Delete(u64(q.ID)); err != nil {
			return fmt.Errorf("unindex queue entry %d: %w", q.ID, err)
		}
	}
	if to == model.QueueWaitingForAgent && from != to {
		if err := w.Put(u64(q.ID), waitingValue(q)); err != nil {
			return fmt.Errorf("index queue entry %d: %w", q.ID, err)
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
	return writeQueueEntry(f.tx.Bucket(bucketQueues), q)
}

func waitingValue(q *model.QueueEntry) []byte {
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, uint64(q.PrimaryTagID))
	binary.BigEndian.PutUint64(v[8:], uint64(q.CreatedAt.UnixNano()))
	return v
}

// decline ends a waiting call without an agent.
func (f *flow) decline(q *model.QueueEntry, t *model.Ticket, code, msg string) error {
	q.DeclineReasonCode, q.DeclineReasonMessage = code, msg
	return f.setQueue(q, t, model.QueueDeclined, map[string]any{"declineReasonCode": code, "declineReasonMessage": msg})
}

// Decline reason codes the edge's distributor gives.
const (
	DeclineNoAgents = "noAgentsOnline"
	DeclineMaxWait  = "maxWaitExceeded"
)

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
	idle := f.tx.Bucket(bucketAgentsIdle)
	if from == model.PresenceIdle && held == 0 {
		if err := idle.Delete(idleKey(p.CallStatusSince, p.UserID)); err != nil {
			return fmt.Errorf("unindex idle agent %d: %w", p.UserID, err)
		}
	}
	if from != to {
		p.CallStatusSince = f.now
	}
	if to == model.PresenceIdle && ticket == 0 {
		if err := idle.Put(idleKey(p.CallStatusSince, p.UserID), nil); err != nil {
			return fmt.Errorf("index idle agent %d: %w", p.UserID, err)
		}
	}
	online := f.tx.Bucket(bucketAgentsOnline)
	switch {
	case to == model.PresenceOffline:
		if err := online.Delete(u64(p.UserID)); err != nil {
			return fmt.Errorf("unindex online agent %d: %w", p.UserID, err)
		}
	case online.Get(u64(p.UserID)) == nil:
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
	if err := putPresence(f.tx, p); err != nil {
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
	if ticket == 0 || (status != model.PresenceBeingConnected && status != model.PresenceACW) ||
		!hasPrefix(f.tx.Bucket(bucketLines), nil) {
		return 0, nil
	}
	t, err := f.ticket(ticket)
	if err != nil {
		return 0, err
	}
	l, err := lineOf(f.tx, t.SubchannelID)
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
	a, err := getAgent(f.tx, userID)
	if err != nil && !isNotFound(err) {
		return err
	}
	var skills []int64
	if a != nil {
		skills = a.SkillTagIDs
	}
	v := make([]byte, 8*len(skills))
	for i, id := range skills {
		binary.BigEndian.PutUint64(v[8*i:], uint64(id))
	}
	if err := f.tx.Bucket(bucketAgentsOnline).Put(u64(userID), v); err != nil {
		return fmt.Errorf("index online agent %d: %w", userID, err)
	}
	return nil
}

func skillsOf(v []byte) []int64 {
	out := make([]int64, len(v)/8)
	for i := range out {
		out[i] = int64(binary.BigEndian.Uint64(v[8*i:]))
	}
	return out
}

func idleKey(since time.Time, userID int64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(since.UnixNano()))
	binary.BigEndian.PutUint64(k[8:], uint64(userID))
	return k
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

// dispatch offers waiting calls to idle agents (routing.Assign decides).
// It runs at the end of every state change, so after each transaction no
// waiting call has an idle agent who could take it. With no idle agent it
// costs one cursor step, which keeps it cheap on callReceived.
func (f *flow) dispatch() (int, error) {
	ic := f.tx.Bucket(bucketAgentsIdle).Cursor()
	k, _ := ic.First()
	if k == nil {
		return 0, nil
	}
	waiting := waitingEntries(f.tx)
	if len(waiting) == 0 {
		return 0, nil
	}
	online := f.tx.Bucket(bucketAgentsOnline)
	var agents []routing.Agent
	for ; k != nil; k, _ = ic.Next() {
		id := int64(binary.BigEndian.Uint64(k[8:]))
		agents = append(agents, routing.Agent{ID: id, Status: routing.Idle,
			Since: time.Unix(0, int64(binary.BigEndian.Uint64(k))), Skills: skillsOf(online.Get(u64(id)))})
	}
	as := routing.Assign(waiting, agents)
	for _, a := range as {
		q, err := getQueueEntry(f.tx, a.EntryID)
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
		p, err := getPresence(f.tx, a.AgentID)
		if err != nil {
			return 0, err
		}
		if err := f.setCall(p, model.PresenceBeingConnected, t.ID, "routed"); err != nil {
			return 0, err
		}
	}
	return len(as), nil
}

// waitingEntries reads the waiting index in arrival order.
func waitingEntries(tx *bolt.Tx) []routing.Entry {
	var out []routing.Entry
	c := tx.Bucket(bucketWaiting).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		out = append(out, routing.Entry{ID: fromU64(k), Tag: int64(binary.BigEndian.Uint64(v)),
			CreatedAt: time.Unix(0, int64(binary.BigEndian.Uint64(v[8:]))).UTC()})
	}
	return out
}

// anyOnlineServes reports whether a logged-in agent has the skill tag.
func anyOnlineServes(tx *bolt.Tx, tag int64) bool {
	c := tx.Bucket(bucketAgentsOnline).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		a := routing.Agent{Skills: skillsOf(v)}
		if a.Serves(tag) {
			return true
		}
	}
	return false
}

// admit decides what becomes of a new routing=native call: it waits for
// an agent, or is declined at once when no logged-in agent has its skill.
func (f *flow) admit(q *model.QueueEntry, t *model.Ticket) error {
	tag, ok := f.s.routing.SubchannelTags[q.SubchannelID]
	if !ok {
		// The config names no skill for the line: central's line may.
		l, err := lineOf(f.tx, q.SubchannelID)
		if err != nil {
			return err
		}
		if l != nil {
			tag = l.TagID
		}
	}
	q.PrimaryTagID = tag
	if !anyOnlineServes(f.tx, q.PrimaryTagID) {
		q.Status, q.DeclineReasonCode = model.QueueDeclined, DeclineNoAgents
		q.DeclineReasonMessage = "No agent with matching skills is logged in"
		q.CompletedAt = &f.now
		f.event(t, "queueStatusChanged", map[string]any{"queueId": q.ID, "from": model.QueueWaitingForAgent,
			"to": model.QueueDeclined, "declineReasonCode": q.DeclineReasonCode, "declineReasonMessage": q.DeclineReasonMessage})
		return nil
	}
	if err := f.tx.Bucket(bucketWaiting).Put(u64(q.ID), waitingValue(q)); err != nil {
		return fmt.Errorf("index queue entry %d: %w", q.ID, err)
	}
	return nil
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
