package model

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Agent is a human agent as the edge's router knows them: their skills
// (tag IDs) and the raw data the PBX needs to ring them (a SIP extension,
// say), which getRouting hands back as assignedUserRawData.
type Agent struct {
	ID          int64           `json:"id"`
	Name        string          `json:"name"`
	SkillTagIDs []int64         `json:"skillTagIds"`
	RawData     json.RawMessage `json:"rawData"`
	// Source is "central" for an agent pulled from central enneo, empty
	// for one PUT at the edge.
	Source    string    `json:"source,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Line is a phone line (an enneo subchannel) with the ACD settings the
// edge's distributor applies to its calls, as pulled from central.
type Line struct {
	ID   int64  `json:"id"`
	Name string `json:"name,omitempty"`
	// RingTimeSeconds (acdRingTimeSeconds) and ACWSeconds (acdAcwSeconds)
	// replace routing.ring_timeout and routing.acw for calls on the line;
	// 0 keeps them.
	RingTimeSeconds int64 `json:"ringTimeSeconds,omitempty"`
	ACWSeconds      int64 `json:"acwSeconds,omitempty"`
	// TagID is the skill the line's calls need, when central names one;
	// routing.subchannel_tags wins for a line it lists.
	TagID int64 `json:"tagId,omitempty"`
}

// AgentView is an agent with their presence, as GET /edge/v1/agents shows.
type AgentView struct {
	Agent
	Presence *Presence `json:"presence"`
}

// AgentConnected is a validated agentConnected request. Its JSON form is
// the body forwarded to central, with TicketID always filled in.
type AgentConnected struct {
	UserID    int64  `json:"userId"`
	TicketID  int64  `json:"ticketId,omitempty"`
	ChannelID string `json:"channelId,omitempty"`
}

// CallCompleted is a validated callCompleted request. Its JSON form is the
// body forwarded to central, with TicketID always filled in. Duration is
// the deprecated spelling of TotalDurationSeconds; it is kept as sent and
// copied into TotalDurationSeconds when that is absent.
type CallCompleted struct {
	ChannelID            string            `json:"channelId"`
	TicketID             int64             `json:"ticketId,omitempty"`
	Transcript           []TranscriptEntry `json:"transcript"`
	Duration             *int64            `json:"duration,omitempty"`
	TotalDurationSeconds *int64            `json:"totalDurationSeconds,omitempty"`
	BotDurationSeconds   *int64            `json:"botDurationSeconds,omitempty"`
	QueueDurationSeconds *int64            `json:"queueDurationSeconds,omitempty"`
	HumanDurationSeconds *int64            `json:"humanDurationSeconds,omitempty"`
}

// CallDurations are the call metrics callCompleted stores on the ticket.
type CallDurations struct {
	TotalSeconds *int64 `json:"totalDurationSeconds"`
	BotSeconds   *int64 `json:"botDurationSeconds"`
	QueueSeconds *int64 `json:"queueDurationSeconds"`
	HumanSeconds *int64 `json:"humanDurationSeconds"`
}

// RoutingStatusChange is a validated PATCH /profile/{id}/routingStatus
// body. Empty strings mean "leave as is"; IfCurrent, when set, must equal
// the current call status (or chat status when only that one changes).
type RoutingStatusChange struct {
	CallRoutingStatus string `json:"callRoutingStatus,omitempty"`
	ChatRoutingStatus string `json:"chatRoutingStatus,omitempty"`
	IfCurrent         string `json:"ifCurrent,omitempty"`
}

// Presences lists every presence value, for validation messages.
var Presences = []string{PresenceIdle, PresenceBeingConnected, PresenceInteracting, PresenceACW,
	PresenceNotResponding, PresenceUnavailable, PresenceOffline}

// maxSkills bounds an agent's skill list.
const maxSkills = 1000

// DecodeAgent parses a PUT /edge/v1/agents/{id} body: name, skillTagIds
// (positive integers) and rawData (an object, kept verbatim). ID and times
// are the caller's to fill.
func DecodeAgent(body []byte) (Agent, error) {
	a := Agent{SkillTagIDs: []int64{}}
	err := decodeObject(body, func(s *scanner, key string) error {
		switch key {
		case "name":
			return s.shortString("name", &a.Name)
		case "skillTagIds", "skills", "tagIds":
			var err error
			a.SkillTagIDs, err = s.idList(key)
			return err
		case "rawData":
			if s.null() {
				a.RawData = nil
				return nil
			}
			if s.peek() != '{' {
				return s.typeError("rawData", "an object")
			}
			start := s.i
			if err := s.skip(1); err != nil {
				return err
			}
			a.RawData = append(json.RawMessage(nil), s.b[start:s.i]...)
			return nil
		}
		return s.skip(1)
	})
	return a, err
}

// DecodeRoutingStatus parses a routingStatus PATCH body; at least one of
// callRoutingStatus and chatRoutingStatus is required.
func DecodeRoutingStatus(body []byte) (RoutingStatusChange, error) {
	var c RoutingStatusChange
	err := decodeObject(body, func(s *scanner, key string) error {
		switch key {
		case "callRoutingStatus":
			return s.enum(key, &c.CallRoutingStatus, Presences...)
		case "chatRoutingStatus":
			return s.enum(key, &c.ChatRoutingStatus, Presences...)
		case "ifCurrent":
			return s.enum(key, &c.IfCurrent, Presences...)
		}
		return s.skip(1)
	})
	if err == nil && c.CallRoutingStatus == "" && c.ChatRoutingStatus == "" {
		err = Invalid("callRoutingStatus", "required (or chatRoutingStatus)")
	}
	return c, err
}

// DecodeAgentConnected parses an agentConnected body: userId is required,
// and one of ticketId and channelId.
func DecodeAgentConnected(body []byte) (AgentConnected, error) {
	var c AgentConnected
	err := decodeObject(body, func(s *scanner, key string) error {
		switch key {
		case "userId":
			return s.positive(key, &c.UserID)
		case "ticketId":
			return s.positive(key, &c.TicketID)
		case "channelId":
			return s.shortString(key, &c.ChannelID)
		}
		return s.skip(1)
	})
	switch {
	case err != nil:
	case c.UserID == 0:
		err = Invalid("userId", "required")
	case c.TicketID == 0 && c.ChannelID == "":
		err = Invalid("ticketId", "required (or channelId)")
	}
	return c, err
}

// DecodeCallCompleted parses a callCompleted body: channelId and
// transcript are required; durations are non-negative integers.
func DecodeCallCompleted(body []byte) (CallCompleted, error) {
	var (
		c             CallCompleted
		hasTranscript bool
	)
	err := decodeObject(body, func(s *scanner, key string) error {
		var err error
		switch key {
		case "channelId":
			err = s.shortString(key, &c.ChannelID)
		case "ticketId":
			err = s.positive(key, &c.TicketID)
		case "transcript":
			if s.null() {
				return nil // null is absent
			}
			hasTranscript = true
			c.Transcript, err = s.transcript(key)
		case "duration":
			c.Duration, err = s.seconds(key)
		case "totalDurationSeconds":
			c.TotalDurationSeconds, err = s.seconds(key)
		case "botDurationSeconds":
			c.BotDurationSeconds, err = s.seconds(key)
		case "queueDurationSeconds":
			c.QueueDurationSeconds, err = s.seconds(key)
		case "humanDurationSeconds":
			c.HumanDurationSeconds, err = s.seconds(key)
		default:
			err = s.skip(1)
		}
		return err
	})
	switch {
	case err != nil:
		return CallCompleted{}, err
	case c.ChannelID == "":
		return CallCompleted{}, Invalid("channelId", "required")
	case !hasTranscript:
		return CallCompleted{}, Invalid("transcript", "required (an array, may be empty)")
	}
	if c.Transcript == nil {
		c.Transcript = []TranscriptEntry{}
	}
	return c, nil
}

// Durations returns the metrics to store, with the deprecated duration
// standing in for totalDurationSeconds.
func (c *CallCompleted) Durations() CallDurations {
	d := CallDurations{TotalSeconds: c.TotalDurationSeconds, BotSeconds: c.BotDurationSeconds,
		QueueSeconds: c.QueueDurationSeconds, HumanSeconds: c.HumanDurationSeconds}
	if d.TotalSeconds == nil {
		d.TotalSeconds = c.Duration
	}
	return d
}

// decodeObject runs member for every key of the JSON object in body and
// turns scanner errors into FieldErrors on "body".
func decodeObject(body []byte, member func(s *scanner, key string) error) error {
	s := &scanner{b: body}
	if s.peek() != '{' {
		return Invalid("body", "must be a JSON object")
	}
	err := s.object(func(key []byte) error { return member(s, string(key)) })
	if s.ws(); err == nil && s.i < len(s.b) {
		err = fmt.Errorf("%w: unexpected data after the object at offset %d", errSyntax, s.i)
	}
	if err != nil {
		return bodyError(err)
	}
	return nil
}

func (s *scanner) seconds(field string) (*int64, error) {
	v, ok, err := s.optInt(field)
	if err != nil || !ok {
		return nil, err
	}
	if v < 0 {
		return nil, Invalid(field, "must not be negative")
	}
	return &v, nil
}

func (s *scanner) idList(field string) ([]int64, error) {
	out := []int64{}
	if s.null() {
		return out, nil
	}
	if s.peek() != '[' {
		return nil, s.typeError(field, "an array of integers")
	}
	err := s.array(func(i int) error {
		if i >= maxSkills {
			return Invalid(field, fmt.Sprintf("more than %d entries", maxSkills))
		}
		var v int64
		if err := s.positive(fmt.Sprintf("%s[%d]", field, i), &v); err != nil {
			return err
		}
		if v == 0 {
			return Invalid(fmt.Sprintf("%s[%d]", field, i), "must be a positive integer")
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// QueueTimeLayout is how queue entry times are written: enneo's
// "YYYY-MM-DD HH:MM:SS" without a zone. The edge writes UTC.
const QueueTimeLayout = "2006-01-02 15:04:05"

// QueueTime formats t for a queue entry answer; nil stays null.
func QueueTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(QueueTimeLayout)
	return &s
}

// PositionDetails is the queue position part of a getRouting answer.
type PositionDetails struct {
	Position                      int     `json:"position"`
	AgentsOnlineWithMatchingSkill []int64 `json:"agentsOnlineWithMatchingSkills"`
	EstimatedWaitingTimeInSeconds int64   `json:"estimatedWaitingTimeInSeconds"`
}

// RoutingAnswer is the 200 body of getRouting: a queue entry with every
// documented field (null where enneo writes null) and no success wrapper.
type RoutingAnswer struct {
	ID                      int64           `json:"id"`
	TicketID                int64           `json:"ticketId"`
	Status                  string          `json:"status"`
	DeclineReasonCode       *string         `json:"declineReasonCode"`
	DeclineReasonMessage    *string         `json:"declineReasonMessage"`
	DeclineReasonDebugInfos *string         `json:"declineReasonDebugInfos"`
	PrimaryTagID            *int64          `json:"primaryTagId"`
	Channel                 string          `json:"channel"`
	SubchannelID            *int64          `json:"subchannelId"`
	AssignedUserID          *int64          `json:"assignedUserId"`
	AssignedUserRawData     json.RawMessage `json:"assignedUserRawData"`
	CreatedAt               *string         `json:"createdAt"`
	RoutedAt                *string         `json:"routedAt"`
	CompletedAt             *string         `json:"completedAt"`
	UpdatedAt               *string         `json:"updatedAt"`
	PositionDetails         PositionDetails `json:"positionDetails"`
}

// QueueStatuses lists every queue entry status, for validation messages.
var QueueStatuses = []string{QueuePreProcessing, QueueWaitingForAgent, QueueAssigned,
	QueueCurrentlyProcessed, QueueCompleted, QueueDeclined, QueueUnknown}

// CheckQueueStatus validates a testQueueStatusResponse value.
func CheckQueueStatus(field, v string) (string, error) {
	return oneOf(field, strings.TrimSpace(v), QueueStatuses...)
}
