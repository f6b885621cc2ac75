package db

import (
	"context"
	"fmt"
	"strconv"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/model"
)

// NewCall is a validated callReceived with the lookups the server prepared
// outside the transaction (phone normalisation is CPU work that must not
// hold up the group commit).
type NewCall struct {
	Call model.Call
	// CallerE164 is the customer's number (phone inbound, to outbound) in
	// E.164, or "" when it did not normalise.
	CallerE164 string
}

// CallResult is what callReceived answers; Duplicate tells that the
// channelId was known and nothing was created.
type CallResult struct {
	Answer    model.CallAnswer
	Duplicate bool
}

// CreateCall stores a call in one transaction: the ticket, its channelId
// index entry, the queue entry, presence changes and the outbox record for
// central. It returns after the transaction is fsynced. A channelId the
// edge already knows returns the first call's answer and writes nothing.
func (s *Store) CreateCall(ctx context.Context, nc NewCall) (CallResult, error) {
	if nc.Call.ChannelID != "" {
		if res, ok, err := s.existingCall(nc.Call.ChannelID); err != nil || ok {
			return res, err
		}
	}
	var res CallResult
	err := s.write(ctx, func(tx *bolt.Tx) error {
		var err error
		res, err = s.createCall(tx, nc)
		return err
	})
	if err != nil {
		return CallResult{}, err
	}
	return res, nil
}

// existingCall answers a repeated channelId from committed state, without
// queueing behind writes.
func (s *Store) existingCall(channelID string) (res CallResult, ok bool, err error) {
	var id int
	err = s.eng.Bolt().View(func(tx *bolt.Tx) error {
		id = tx.ID()
		res, ok, err = answerFor(tx, channelID)
		return err
	})
	// Only an answer must wait for the log: a channelId not found yet goes
	// to the group commit, which checks again in its transaction, so a new
	// call never waits for the previous commit's fsync here.
	if err == nil && ok {
		err = s.eng.WaitDurable(uint64(id))
	}
	return res, ok, err
}

func answerFor(tx *bolt.Tx, channelID string) (CallResult, bool, error) {
	id := tx.Bucket(bucketChannels).Get([]byte(channelID))
	if id == nil {
		return CallResult{}, false, nil
	}
	t, err := getTicket(tx, fromU64(id))
	if err != nil {
		return CallResult{}, false, fmt.Errorf("channel %q: %w", channelID, err)
	}
	return CallResult{Answer: answerOf(t), Duplicate: true}, true, nil
}

func answerOf(t *model.Ticket) model.CallAnswer {
	a := model.CallAnswer{
		TicketID:   t.ID,
		ContractID: t.ContractID,
		CustomerID: t.CustomerID,
		IOResponse: ioResponse(t),
	}
	if t.Routing == model.RoutingNative {
		a.QueueID = t.QueueID
	}
	return a
}

// ioResponse says what happened, as enneo's ioResponse does: the edge never
// runs AI itself, it defers that to central.
func ioResponse(t *model.Ticket) string {
	if t.Routing != model.RoutingExternal {
		return "None, as routing is not external"
	}
	msg := "Deferred: the edge stored the call; AI processing runs when central enneo receives it"
	if !t.TriggerAIProcessing {
		msg = "None, as triggerAiProcessing is false"
	}
	if t.AgentID != 0 {
		msg += "; ticket assigned to user " + strconv.FormatInt(t.AgentID, 10)
	}
	return msg
}

func (s *Store) createCall(tx *bolt.Tx, nc NewCall) (CallResult, error) {
	c := &nc.Call
	if c.ChannelID != "" {
		// A repeat within the same batch, or one that raced past the read.
		if res, ok, err := answerFor(tx, c.ChannelID); err != nil || ok {
			return res, err
		}
	}
	f := s.newFlow(tx)
	now := f.now
	seq, err := tx.Bucket(bucketTickets).NextSequence()
	if err != nil {
		return CallResult{}, fmt.Errorf("next ticket id: %w", err)
	}
	if err := addCount(tx, metaTickets, 1); err != nil {
		return CallResult{}, err
	}
	t := &model.Ticket{
		ID:                  siteID(s.site, seq),
		Channel:             "phone",
		Direction:           c.Direction,
		Status:              c.Status,
		Routing:             c.Routing,
		FromName:            c.CallerName,
		ChannelID:           c.ChannelID,
		SubchannelID:        c.SubchannelID,
		ExternalTicketID:    c.ExternalTicketID,
		TriggerAIProcessing: c.TriggerAIProcessing,
		AIAgentID:           c.AIAgentID,
		Conversation:        []model.Conversation{},
		Forwarding:          model.Forwarding{State: model.ForwardPending},
		CreatedAt:           now,
		ModifiedAt:          now,
	}
	if c.Direction == model.DirectionIn {
		t.From = c.Phone
	} else {
		t.From, t.To = c.Phone, c.To
	}
	if t.ChannelID == "" {
		// Central must recognise a re-send of this call, so the upstream
		// copy always carries a channelId.
		t.ChannelID = "edge-" + strconv.FormatInt(t.ID, 10)
		t.ChannelIDGenerated = true
		c.ChannelID = t.ChannelID
	}
	created := map[string]any{"direction": c.Direction, "routing": c.Routing, "channelId": t.ChannelID}
	if c.TriggeredBy != 0 {
		created["triggeredBy"] = c.TriggeredBy
	}
	t.Events = append(t.Events, model.Event{Type: "ticketCreated", At: now, Data: created})

	if by := identify(tx, c, nc.CallerE164, t); by != "" {
		t.Events = append(t.Events, model.Event{Type: "customerIdentified", At: now,
			Data: map[string]any{"by": by, "customerId": t.CustomerID, "contractId": t.ContractID}})
	}
	t.Conversation = model.AppendConversation(t.Conversation, c.Transcript)
	f.adopt(t)
	if err := s.assign(f, c, t); err != nil {
		return CallResult{}, err
	}
	if err := s.putQueueEntry(f, c, t); err != nil {
		return CallResult{}, err
	}
	// The call goes into the outbox before the presence changes it caused
	// (flush queues those), so central learns of it first.
	up := forwarded(c, t)
	body := up.AppendJSON(make([]byte, 0, 512))
	if err := appendOutbox(tx, OutboxRecord{Kind: KindCallReceived, TicketID: t.ID, UserID: t.AgentID, Body: body, CreatedAt: now}); err != nil {
		return CallResult{}, err
	}
	if _, err := f.dispatch(); err != nil {
		return CallResult{}, err
	}
	if err := f.flush(); err != nil {
		return CallResult{}, err
	}
	if err := tx.Bucket(bucketChannels).Put([]byte(t.ChannelID), u64(t.ID)); err != nil {
		return CallResult{}, fmt.Errorf("index channel %q: %w", t.ChannelID, err)
	}
	return CallResult{Answer: answerOf(t)}, nil
}

// forwarded is the callReceived central gets: what happened at the edge,
// not what the PBX asked for. A native call is routed by the edge's own
// distributor, so central gets it as external (its ACD stays out; the agent
// who takes it arrives as agentConnected). The customer and contract the
// edge identified, and the status and AI trigger it defaulted, go along so
// central records the ticket the PBX was told about.
func forwarded(c *model.Call, t *model.Ticket) model.Call {
	up := *c
	if up.Routing == model.RoutingNative {
		up.Routing = model.RoutingExternal
	}
	up.ContractID, up.CustomerID = t.ContractID, t.CustomerID
	up.Status, up.TriggerAIProcessing = t.Status, t.TriggerAIProcessing
	up.ChannelID = t.ChannelID
	if up.ExternalTicketID == "" {
		// The edge is the external system holding the ticket, and enneo
		// treats externalTicketId as a de-duplication key when it creates a
		// ticket: a second guard, beside the lookup, for a call whose
		// forwarding outcome was unknown.
		up.ExternalTicketID = "enneo-edge-" + strconv.FormatInt(t.ID, 10)
	}
	return up
}

// assign records the human on the call: the ticket's assignee and, where
// the contract says so, their presence.
func (s *Store) assign(f *flow, c *model.Call, t *model.Ticket) error {
	var human int64
	interacting := false
	switch {
	case c.Direction == model.DirectionOut:
		human = c.Human()
		// A voicebot conducts the call when aiAgentId is set: the human is
		// recorded but not put on the line.
		interacting = human != 0 && c.AIAgentID == 0
	case c.UserID != 0:
		// Inbound userId: "same effect as a subsequent agentConnected" for
		// a live hand-over (external); a closed routing=none ticket is only
		// attributed.
		human = c.UserID
		interacting = c.Routing == model.RoutingExternal
	}
	if human == 0 {
		return nil
	}
	t.AgentID = human
	f.event(t, "ticketAssigned", map[string]any{"userId": human})
	if !interacting {
		return nil
	}
	p, err := getPresence(f.tx, human)
	if err != nil {
		return err
	}
	return f.setCall(p, model.PresenceInteracting, t.ID, "callReceived")
}

// putQueueEntry opens the queue entry native routing and outbound calls get.
func (s *Store) putQueueEntry(f *flow, c *model.Call, t *model.Ticket) error {
	tx, now := f.tx, f.now
	status := ""
	var assigned int64
	switch {
	case c.Direction == model.DirectionOut:
		status = model.QueueUnknown // out of routing: nobody waits for an agent
		if h := c.Human(); h != 0 && c.AIAgentID == 0 {
			status, assigned = model.QueueCurrentlyProcessed, h
		}
	case c.Routing == model.RoutingNative:
		status = model.QueueWaitingForAgent
	default:
		return nil
	}
	b := tx.Bucket(bucketQueues)
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("next queue id: %w", err)
	}
	q := &model.QueueEntry{
		ID: siteID(s.site, seq), TicketID: t.ID, Status: status, Channel: "phone",
		SubchannelID: c.SubchannelID, AssignedUserID: assigned, CreatedAt: now, UpdatedAt: now,
	}
	if assigned != 0 {
		q.RoutedAt = &now
	}
	t.QueueID = q.ID
	t.Events = append(t.Events, model.Event{Type: "queueEntryCreated", At: now,
		Data: map[string]any{"queueId": q.ID, "status": status}})
	if status == model.QueueWaitingForAgent {
		if err := f.admit(q, t); err != nil {
			return err
		}
	}
	return writeQueueEntry(b, q)
}

func putJSON(b *bolt.Bucket, key []byte, v any, what string) error {
	buf, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", what, err)
	}
	if err := b.Put(key, buf); err != nil {
		return fmt.Errorf("put %s: %w", what, err)
	}
	return nil
}
