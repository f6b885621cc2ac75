// Package callflow holds the edge's call domain: the use cases
// (CreateCall, AgentConnected, CallCompleted, SetRoutingStatus, the timers,
// agent and directory changes), the call state machine, the distributor's
// decisions (applying package routing) and the answer and decline texts.
//
// Each use case is a deterministic function of the stored state it reads
// through Tx, the command, and the time passed in: IDs come from the
// stored sequences, nothing reads a clock or a random source. The same
// command applied to the same state at the same time writes the same
// bytes and gives the same answer. Package db opens the transaction and
// implements Tx; this package imports no storage.
package callflow

import (
	"fmt"
	"time"

	json "github.com/goccy/go-json"

	"github.com/enneo-edge/enneo-edge/model"
	"github.com/enneo-edge/enneo-edge/routing"
)

// Options configure a Machine.
type Options struct {
	// SiteID makes this edge's ticket and queue IDs unique (1..9999).
	SiteID int64
	// Routing holds the distributor's timers and line tags; zero fields
	// take routing.DefaultConfig's values.
	Routing routing.Config
}

// Machine applies the use cases with fixed settings; it holds no state of
// its own, so one Machine serves every transaction.
type Machine struct {
	site    int64
	routing routing.Config
}

// New returns a Machine for the site and routing settings.
func New(o Options) *Machine {
	return &Machine{site: o.SiteID, routing: routingDefaults(o.Routing)}
}

// Routing returns the distributor's settings with the defaults applied.
func (m *Machine) Routing() routing.Config { return m.routing }

// IDs are site-specific and readable: 1 SSSS NNNNNNNNNNN, that is
// 10^15 + site·10^11 + sequence. Every site gets 10^11 IDs, the largest ID
// (site 9999) stays below 2^53 so JavaScript reads it exactly, and the
// range sits far above central enneo's own IDs.
const (
	idBase    = 1_000_000_000_000_000
	idPerSite = 100_000_000_000
)

func siteID(site int64, seq uint64) int64 { return idBase + site*idPerSite + int64(seq) }

// flow is one use case's view of the call flow inside a write transaction:
// it loads each touched ticket once, records every state change as an
// event on its ticket, keeps the routing indexes (waiting entries, idle and
// online agents) in step with the records, and writes the tickets back at
// the end. The indexes are stored, so they survive restarts and every
// routing decision is part of the transaction that caused it.
type flow struct {
	m       *Machine
	tx      Tx
	now     time.Time
	tickets map[int64]*model.Ticket
	order   []int64
	// moved lists the agents whose presence the flow changed, in the order
	// of their first change; chat marks those whose chat status was set.
	// flush forwards each one's final presence to central.
	moved []int64
	chat  map[int64]bool
}

func (m *Machine) newFlow(tx Tx, now time.Time) *flow {
	return &flow{m: m, tx: tx, now: now.UTC()}
}

// ticket loads a ticket once per flow; flush writes it back.
func (f *flow) ticket(id int64) (*model.Ticket, error) {
	if t, ok := f.tickets[id]; ok {
		return t, nil
	}
	t, err := f.tx.Ticket(id)
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
		if err := f.tx.PutTicket(f.tickets[id]); err != nil {
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
		p, err := f.tx.Presence(id)
		if err != nil {
			return err
		}
		body := model.RoutingStatusChange{CallRoutingStatus: p.CallRoutingStatus}
		if f.chat[id] {
			body.ChatRoutingStatus = p.ChatRoutingStatus
		}
		if err := f.outbox(KindRoutingStatus, 0, id, body); err != nil {
			return err
		}
	}
	f.moved, f.chat = f.moved[:0], nil
	return nil
}

// outbox appends a record with body encoded as the request central gets.
func (f *flow) outbox(kind string, ticketID, userID int64, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode %s outbox record: %w", kind, err)
	}
	return f.tx.AppendOutbox(kind, ticketID, userID, b, f.now)
}

func (f *flow) queueOf(t *model.Ticket) (*model.QueueEntry, error) {
	if t.QueueID == 0 {
		return nil, nil
	}
	return f.tx.QueueEntry(t.QueueID)
}

// flowTicket resolves the ticket a request names: ticketId wins over
// channelId when both are given.
func (f *flow) flowTicket(ticketID int64, channelID string) (*model.Ticket, error) {
	if ticketID != 0 {
		return f.ticket(ticketID)
	}
	id, ok := f.tx.TicketByChannel(channelID)
	if !ok {
		return nil, fmt.Errorf("channelId %q: %w", channelID, ErrNotFound)
	}
	return f.ticket(id)
}
