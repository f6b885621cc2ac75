package callflow

import (
	"fmt"
	"strconv"
	"time"

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

// CreateCall stores a call: the ticket, its channelId index entry, the
// queue entry with the distributor's decision, presence changes and the
// outbox record for central. A channelId the state already holds returns
// the first call's answer and writes nothing.
func (m *Machine) CreateCall(tx Tx, now time.Time, nc NewCall) (CallResult, error) {
	c := &nc.Call
	if c.ChannelID != "" {
		// A repeat within the same batch, or one that raced past the read.
		if res, ok, err := Existing(tx, c.ChannelID); err != nil || ok {
			return res, err
		}
	}
	f := m.newFlow(tx, now)
	now = f.now
	seq, err := tx.NextTicketSeq()
	if err != nil {
		return CallResult{}, err
	}
	t := &model.Ticket{
		ID:                  siteID(m.site, seq),
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
	if err := f.assign(c, t); err != nil {
		return CallResult{}, err
	}
	if err := f.putQueueEntry(c, t); err != nil {
		return CallResult{}, err
	}
	// The call goes into the outbox before the presence changes it caused
	// (flush queues those), so central learns of it first.
	up := forwarded(c, t)
	body := up.AppendJSON(make([]byte, 0, 512))
	if err := tx.AppendOutbox(KindCallReceived, t.ID, t.AgentID, body, now); err != nil {
		return CallResult{}, err
	}
	if _, err := f.dispatch(); err != nil {
		return CallResult{}, err
	}
	if err := f.flush(); err != nil {
		return CallResult{}, err
	}
	if err := tx.IndexChannel(t.ChannelID, t.ID); err != nil {
		return CallResult{}, err
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
func (f *flow) assign(c *model.Call, t *model.Ticket) error {
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
	p, err := f.tx.Presence(human)
	if err != nil {
		return err
	}
	return f.setCall(p, model.PresenceInteracting, t.ID, "callReceived")
}

// putQueueEntry opens the queue entry native routing and outbound calls get.
func (f *flow) putQueueEntry(c *model.Call, t *model.Ticket) error {
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
	seq, err := tx.NextQueueSeq()
	if err != nil {
		return err
	}
	q := &model.QueueEntry{
		ID: siteID(f.m.site, seq), TicketID: t.ID, Status: status, Channel: "phone",
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
	return tx.PutQueueEntry(*q)
}

// Existing answers a channelId the state already holds, as the first call
// was answered; ok is false when the channelId is new. It only reads.
func Existing(tx Reader, channelID string) (res CallResult, ok bool, err error) {
	id, known := tx.TicketByChannel(channelID)
	if !known {
		return CallResult{}, false, nil
	}
	t, err := tx.Ticket(id)
	if err != nil {
		return CallResult{}, false, fmt.Errorf("channel %q: %w", channelID, err)
	}
	return CallResult{Answer: answerOf(t), Duplicate: true}, true, nil
}
