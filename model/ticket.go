package model

import "time"

// Ticket is a call ticket as the edge stores it and shows it on
// GET /edge/v1/tickets/{id}. Field names follow enneo's ticket object.
type Ticket struct {
	ID                  int64          `json:"id"`
	CentralID           int64          `json:"centralId,omitempty"`
	Channel             string         `json:"channel"`
	Direction           string         `json:"direction"`
	Status              string         `json:"status"`
	Routing             string         `json:"routing"`
	From                string         `json:"from,omitempty"`
	FromName            string         `json:"fromName,omitempty"`
	To                  string         `json:"to,omitempty"`
	ChannelID           string         `json:"channelId"`
	ChannelIDGenerated  bool           `json:"channelIdGenerated,omitempty"`
	SubchannelID        int64          `json:"subchannelId,omitempty"`
	ExternalTicketID    string         `json:"externalTicketId,omitempty"`
	ContractID          string         `json:"contractId,omitempty"`
	CustomerID          string         `json:"customerId,omitempty"`
	AgentID             int64          `json:"agentId,omitempty"`
	AIAgentID           int64          `json:"aiAgentId,omitempty"`
	TriggerAIProcessing bool           `json:"triggerAiProcessing"`
	QueueID             int64          `json:"queueId,omitempty"`
	Conversation        []Conversation `json:"conversation"`
	Events              []Event        `json:"events"`
	Forwarding          Forwarding     `json:"forwarding"`
	CreatedAt           time.Time      `json:"createdAt"`
	ModifiedAt          time.Time      `json:"modifiedAt"`
	// Durations and CallEndedAt are set by callCompleted.
	Durations   *CallDurations `json:"durations,omitempty"`
	CallEndedAt *time.Time     `json:"callEndedAt,omitempty"`
}

// Conversation is one transcript line on a ticket, with enneo's direction
// (in, out, internal) and type (text, agent_request, agent_response).
type Conversation struct {
	Direction string `json:"direction"`
	Type      string `json:"type"`
	Speaker   string `json:"speaker"`
	Message   string `json:"message"`
	Timestamp string `json:"timestamp,omitempty"`
}

// Event records a state change on a ticket; Data holds what the change
// needs to be understood later (who triggered it, old and new status).
type Event struct {
	Type string         `json:"type"`
	At   time.Time      `json:"at"`
	Data map[string]any `json:"data,omitempty"`
}

// Forwarding states of a ticket's records on their way to central enneo.
const (
	ForwardPending = "pending"
	ForwardSynced  = "synced"
	ForwardDead    = "deadLetter"
)

// Forwarding tells how far the ticket got on its way to central enneo.
type Forwarding struct {
	State     string     `json:"state"`
	CentralID int64      `json:"centralId,omitempty"`
	SyncedAt  *time.Time `json:"syncedAt,omitempty"`
	LastError string     `json:"lastError,omitempty"`
}

// Queue entry statuses (enneo's enum).
const (
	QueuePreProcessing      = "preProcessing"
	QueueWaitingForAgent    = "waitingForAgent"
	QueueAssigned           = "assigned"
	QueueCurrentlyProcessed = "currentlyProcessed"
	QueueCompleted          = "completed"
	QueueDeclined           = "declined"
	QueueUnknown            = "unknown"
)

// QueueEntry is a call's place in the routing queue.
type QueueEntry struct {
	ID                   int64      `json:"id"`
	TicketID             int64      `json:"ticketId"`
	Status               string     `json:"status"`
	DeclineReasonCode    string     `json:"declineReasonCode,omitempty"`
	DeclineReasonMessage string     `json:"declineReasonMessage,omitempty"`
	PrimaryTagID         int64      `json:"primaryTagId,omitempty"`
	Channel              string     `json:"channel"`
	SubchannelID         int64      `json:"subchannelId,omitempty"`
	AssignedUserID       int64      `json:"assignedUserId,omitempty"`
	CreatedAt            time.Time  `json:"createdAt"`
	RoutedAt             *time.Time `json:"routedAt"`
	CompletedAt          *time.Time `json:"completedAt"`
	UpdatedAt            time.Time  `json:"updatedAt"`
	// CallStartedAt is when agentConnected reported the answer; handling
	// times for wait estimates run from it.
	CallStartedAt *time.Time `json:"callStartedAt,omitempty"`
}

// Presence values of an agent's call and chat routing status.
const (
	PresenceIdle           = "idle"
	PresenceBeingConnected = "beingConnected"
	PresenceInteracting    = "interacting"
	PresenceACW            = "acw"
	PresenceNotResponding  = "notResponding"
	PresenceUnavailable    = "unavailable"
	PresenceOffline        = "offline"
)

// Presence is an agent's routing status.
type Presence struct {
	UserID            int64     `json:"userId"`
	CallRoutingStatus string    `json:"callRoutingStatus"`
	ChatRoutingStatus string    `json:"chatRoutingStatus"`
	CurrentTicketID   int64     `json:"currentTicketId,omitempty"`
	UpdatedAt         time.Time `json:"updatedAt"`
	// CallStatusSince is when CallRoutingStatus was entered: the
	// longest-idle agent gets the next call, ring and acw timers run from it.
	CallStatusSince time.Time `json:"callRoutingStatusSince"`
	// TimerSeconds is the ring or after-call time of the call's phone line
	// (pulled from central), fixed when the status was entered so a later
	// refresh of the line does not change a running timer; 0 means the
	// config's.
	TimerSeconds int64 `json:"timerSeconds,omitempty"`
}

// TicketView is the answer of GET /edge/v1/tickets/{id}: the ticket with its
// queue entry beside it.
type TicketView struct {
	Success bool        `json:"success"`
	Ticket  *Ticket     `json:"ticket"`
	Queue   *QueueEntry `json:"queueEntry"`
}
