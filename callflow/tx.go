package callflow

import (
	"errors"
	"time"

	"github.com/enneo-edge/enneo-edge/model"
	"github.com/enneo-edge/enneo-edge/routing"
)

// Errors a use case returns, grouped by when they happen. Package db
// re-exports them (db.ErrNotFound, db.ErrConflict), so the server maps
// them to status codes in its one table whichever room returned them.
var (
	// ErrNotFound is returned by lookups of a ticket, customer or queue
	// entry the edge does not hold.
	ErrNotFound = errors.New("not found")

	// ErrConflict is returned when a request contradicts the current state:
	// an ifCurrent that does not match, an agent set idle or connected
	// while on another call, a call connected after it ended.
	ErrConflict = errors.New("conflict")
)

// Kinds of the outbox records the use cases queue for central.
const (
	KindCallReceived   = "callReceived"
	KindAgentConnected = "agentConnected"
	KindCallCompleted  = "callCompleted"
	KindRoutingStatus  = "routingStatus"
)

// Tx is the stored state one use case reads and writes: the schema's typed
// accessors inside one write transaction (package db implements it on a
// bbolt transaction). It is all a use case sees of storage, so a use case
// is a function of what Tx holds, the command, and the time passed in.
// Lookups of a missing record return an error wrapping ErrNotFound, except
// Presence (an agent never seen is offline) and Line (nil: central named
// none).
type Tx interface {
	Reader
	PutTicket(t *model.Ticket) error
	// NextTicketSeq draws the next ticket sequence number and counts the
	// ticket.
	NextTicketSeq() (uint64, error)
	IndexChannel(channelID string, ticketID int64) error

	QueueEntry(id int64) (*model.QueueEntry, error)
	// PutQueueEntry takes the entry by value: a pointer handed to an
	// interface escapes, and callReceived's new entry would cost an
	// allocation more.
	PutQueueEntry(q model.QueueEntry) error
	NextQueueSeq() (uint64, error)

	// Waiting lists the waiting index (waitingForAgent entries) in
	// arrival order; IndexWaiting and UnindexWaiting keep it.
	Waiting() []routing.Entry
	// WaitingCreatedBy lists the waiting entries that arrived at or
	// before cutoff, in arrival (queue ID) order: what the maximum-wait
	// timer needs, without reading every waiting call.
	WaitingCreatedBy(cutoff time.Time) []routing.Entry
	// AnyWaiting reports whether a call with exactly this skill tag (0:
	// none) waits, in one seek.
	AnyWaiting(tag int64) bool
	IndexWaiting(queueID, tag int64, createdAt time.Time) error
	UnindexWaiting(queueID int64) error

	Presence(userID int64) (*model.Presence, error)
	PutPresence(p *model.Presence) error
	// EachBusyPresence calls fn, in user ID order, for the agents whose
	// presence runs a timer or holds a call (beingConnected, acw,
	// interacting, notResponding): the only ones the timers and
	// cleanState look at, so they need not read every agent.
	EachBusyPresence(fn func(p *model.Presence) error) error

	// AnyIdle reports whether the idle index holds an agent (one cursor
	// step); Idle lists it, longest idle first.
	AnyIdle() bool
	Idle() []routing.Agent
	IndexIdle(since time.Time, userID int64) error
	UnindexIdle(since time.Time, userID int64) error

	// Online reports whether the agent is in the online index; AnyOnline
	// whether an agent in it serves tag (routing.Serves: any agent for
	// tag 0, else one with the skill), answered from the skill index in
	// one seek whatever the number of agents online.
	Online(userID int64) bool
	AnyOnline(tag int64) bool
	IndexOnline(userID int64, skills []int64) error
	UnindexOnline(userID int64) error

	Agent(id int64) (*model.Agent, error)
	PutAgent(a *model.Agent) error
	EachAgent(fn func(a *model.Agent) error) error
	DeleteAgent(id int64) error

	// AnyLine reports whether central named any phone line.
	AnyLine() bool
	Line(id int64) (*model.Line, error)
	ReplaceLines(lines []model.Line) error
	PutDirectoryState(st DirectoryState) error

	// HandleTimes are the recent handling times (oldest first);
	// AppendHandleTime adds one, keeping the last max.
	HandleTimes() []time.Duration
	AppendHandleTime(d time.Duration, max int) error

	Customer(id string) (*model.Customer, error)
	// CustomerByContract and CustomerByPhone return "" when none matches;
	// by phone, the first customer ID holding the E.164 number.
	CustomerByContract(contractID string) string
	CustomerByPhone(e164 string) string

	// AppendOutbox queues a record for central at the end of the outbox.
	AppendOutbox(kind string, ticketID, userID int64, body []byte, at time.Time) error
}

// Reader is the part of Tx a read transaction offers: enough to answer a
// repeated callReceived without queueing behind writes.
type Reader interface {
	Ticket(id int64) (*model.Ticket, error)
	// TicketByChannel resolves a channelId; ok is false when it is unknown.
	TicketByChannel(channelID string) (id int64, ok bool)
}
