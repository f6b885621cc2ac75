package model

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Routing values of callReceived.
const (
	RoutingNone     = "none"
	RoutingExternal = "external"
	RoutingNative   = "native"
)

// Direction values of a call ticket.
const (
	DirectionIn  = "in"
	DirectionOut = "out"
)

// Ticket status values accepted by callReceived (the newest enum).
const (
	StatusOpen    = "open"
	StatusClosed  = "closed"
	StatusPending = "pending"
)

// Call is a validated callReceived request with every default applied and
// every value owned (nothing points into the request buffer). Absent
// integers are 0: enneo IDs are positive, so 0 never means a real ID.
type Call struct {
	Routing             string            `json:"routing"`
	Direction           string            `json:"direction"`
	Status              string            `json:"status"`
	TriggerAIProcessing bool              `json:"triggerAiProcessing"`
	ContractID          string            `json:"contractId,omitempty"`
	CustomerID          string            `json:"customerId,omitempty"`
	Phone               string            `json:"phone,omitempty"`
	To                  string            `json:"to,omitempty"`
	AgentID             int64             `json:"agentId,omitempty"`
	AIAgentID           int64             `json:"aiAgentId,omitempty"`
	UserID              int64             `json:"userId,omitempty"`
	TriggeredBy         int64             `json:"triggeredBy,omitempty"`
	SubchannelID        int64             `json:"subchannelId,omitempty"`
	ChannelID           string            `json:"channelId,omitempty"`
	CallerName          string            `json:"callerName,omitempty"`
	ExternalTicketID    string            `json:"externalTicketId,omitempty"`
	Transcript          []TranscriptEntry `json:"transcript,omitempty"`
}

// TranscriptEntry is one line of a call transcript. Speaker is canonical:
// the older spelling "bot" has been rewritten to "agent".
type TranscriptEntry struct {
	Speaker   string `json:"speaker"`
	Message   string `json:"message"`
	Timestamp string `json:"timestamp,omitempty"`
}

// CustomerNumber is the number that identifies the customer: the caller's
// (phone) on an inbound call, the one dialled (to) on an outbound call.
func (c *Call) CustomerNumber() string {
	if c.Direction == DirectionOut {
		return c.To
	}
	return c.Phone
}

// Human is the person on the line of an outbound call, or 0: agentId wins
// over userId because it is the newer, outbound-specific field.
func (c *Call) Human() int64 {
	if c.AgentID != 0 {
		return c.AgentID
	}
	return c.UserID
}

// Limits on string fields keep one request from bloating the database.
const (
	maxShortString = 256
	maxMessage     = 64 << 10
	maxTranscript  = 10000
)

// DecodeCall parses and validates a callReceived body. The returned Call
// owns all its memory, so body may be reused by the caller afterwards.
// Every error is a *FieldError naming the offending field; unknown fields
// are skipped however deeply nested.
func DecodeCall(body []byte) (Call, error) {
	c := Call{Routing: RoutingNone, Direction: DirectionIn}
	var (
		hasStatus, hasTrigger bool
		statusVal             string
		triggerVal            bool
		s                     = scanner{b: body}
	)
	if s.peek() != '{' {
		return Call{}, Invalid("body", "must be a JSON object")
	}
	err := s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "routing":
			err = s.enum("routing", &c.Routing, RoutingNone, RoutingExternal, RoutingNative)
		case "direction":
			err = s.enum("direction", &c.Direction, DirectionIn, DirectionOut)
		case "status":
			var v string
			if v, hasStatus, err = s.optString("status"); hasStatus && err == nil {
				statusVal, err = oneOf("status", v, StatusOpen, StatusClosed, StatusPending)
			}
		case "triggerAiProcessing":
			triggerVal, hasTrigger, err = s.optBool("triggerAiProcessing")
		case "contractId":
			c.ContractID, err = s.idField("contractId")
		case "customerId":
			c.CustomerID, err = s.idField("customerId")
		case "phone":
			err = s.shortString("phone", &c.Phone)
		case "to":
			err = s.shortString("to", &c.To)
		case "channelId":
			err = s.shortString("channelId", &c.ChannelID)
		case "callerName":
			err = s.shortString("callerName", &c.CallerName)
		case "externalTicketId":
			err = s.shortString("externalTicketId", &c.ExternalTicketID)
		case "agentId":
			err = s.positive("agentId", &c.AgentID)
		case "aiAgentId":
			err = s.positive("aiAgentId", &c.AIAgentID)
		case "userId":
			err = s.positive("userId", &c.UserID)
		case "triggeredBy":
			err = s.positive("triggeredBy", &c.TriggeredBy)
		case "subchannelId":
			err = s.positive("subchannelId", &c.SubchannelID)
		case "transcript":
			c.Transcript, err = s.transcript("transcript")
		default:
			err = s.skip(1)
		}
		return err
	})
	if s.ws(); err == nil && s.i < len(s.b) {
		err = fmt.Errorf("%w: unexpected data after the object at offset %d", errSyntax, s.i)
	}
	if err != nil {
		return Call{}, bodyError(err)
	}
	c.Status, c.TriggerAIProcessing = StatusOpen, true
	if c.Routing == RoutingNone {
		c.Status, c.TriggerAIProcessing = StatusClosed, false
	}
	if hasStatus {
		c.Status = statusVal
	}
	if hasTrigger {
		c.TriggerAIProcessing = triggerVal
	}
	if c.Direction == DirectionOut && c.To == "" {
		return Call{}, Invalid("to", "required for direction out")
	}
	if c.Routing == RoutingNative && c.UserID != 0 {
		return Call{}, Invalid("userId", "not allowed with routing native (the routing engine picks the agent)")
	}
	if c.Direction == DirectionIn {
		// The contract: aiAgentId is ignored for inbound calls.
		c.AIAgentID = 0
	}
	return c, nil
}

// bodyError turns scanner errors that are not about one field into a
// FieldError on "body".
func bodyError(err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return err
	}
	return Invalid("body", err.Error())
}

func (s *scanner) enum(field string, dst *string, allowed ...string) error {
	v, ok, err := s.optString(field)
	if err != nil || !ok {
		return err
	}
	*dst, err = oneOf(field, v, allowed...)
	return err
}

func (s *scanner) shortString(field string, dst *string) error {
	v, _, err := s.optString(field)
	if err != nil {
		return err
	}
	if len(v) > maxShortString {
		return Invalid(field, fmt.Sprintf("longer than %d bytes", maxShortString))
	}
	*dst = strings.TrimSpace(v)
	return nil
}

func (s *scanner) positive(field string, dst *int64) error {
	v, ok, err := s.optInt(field)
	if err != nil || !ok {
		*dst = 0
		return err
	}
	if v <= 0 {
		return Invalid(field, "must be a positive integer")
	}
	*dst = v
	return nil
}

func (s *scanner) idField(field string) (string, error) {
	v, err := s.optID(field)
	if err != nil {
		return "", err
	}
	v = strings.TrimSpace(v)
	if len(v) > MaxIDLength {
		return "", Invalid(field, fmt.Sprintf("longer than %d characters", MaxIDLength))
	}
	return v, nil
}

func oneOf(field, v string, allowed ...string) (string, error) {
	for _, a := range allowed {
		if v == a {
			return a, nil
		}
	}
	return "", Invalid(field, fmt.Sprintf("must be one of %s, got %q", strings.Join(allowed, ", "), clip(v)))
}

// Speaker values of transcript entries and how each maps onto the ticket's
// conversation (the contract's speaker table).
// Name repeats the key so the decoder can return the table's own string
// for a key it looked up with request bytes (no copy).
var speakers = map[string]struct{ Name, Direction, Type string }{
	"customer":       {"customer", "in", "text"},
	"agent":          {"agent", "out", "text"},
	"agent_request":  {"agent_request", "internal", "agent_request"},
	"agent_response": {"agent_response", "internal", "agent_response"},
}

// AppendConversation adds transcript entries to a ticket's conversation,
// with the direction and type the speaker table gives each.
func AppendConversation(conv []Conversation, entries []TranscriptEntry) []Conversation {
	for _, e := range entries {
		m := speakers[e.Speaker]
		conv = append(conv, Conversation{
			Direction: m.Direction, Type: m.Type, Speaker: e.Speaker, Message: e.Message, Timestamp: e.Timestamp})
	}
	return conv
}

func (s *scanner) transcript(field string) ([]TranscriptEntry, error) {
	if s.null() {
		return nil, nil
	}
	if s.peek() != '[' {
		return nil, s.typeError(field, "an array")
	}
	var out []TranscriptEntry
	err := s.array(func(i int) error {
		if i >= maxTranscript {
			return Invalid(field, fmt.Sprintf("more than %d entries", maxTranscript))
		}
		e, err := s.entry()
		if err != nil {
			return entryError(err, field, i)
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// entryError puts the entry's path in front of a field error. Building the
// path only here keeps a valid transcript free of per-entry allocations.
func entryError(err error, field string, i int) error {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return err
	}
	path := field + "[" + strconv.Itoa(i) + "]"
	if fe.Field != "" {
		path += "." + fe.Field
	}
	return Invalid(path, fe.Msg)
}

// entry reads one transcript entry; speaker and message are required. Its
// errors name the member alone ("speaker"; "" for the entry itself).
func (s *scanner) entry() (TranscriptEntry, error) {
	var e TranscriptEntry
	if s.peek() != '{' {
		return e, s.typeError("", "an object")
	}
	var hasMessage bool
	err := s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "speaker":
			e.Speaker, err = s.speaker()
		case "message":
			if e.Message, hasMessage, err = s.optString("message"); err == nil && len(e.Message) > maxMessage {
				err = Invalid("message", fmt.Sprintf("longer than %d bytes", maxMessage))
			}
		case "timestamp":
			var v string
			var ok bool
			if v, ok, err = s.optString("timestamp"); err != nil || !ok || v == "" {
				return err
			}
			if _, perr := time.Parse(time.RFC3339, v); perr != nil {
				return Invalid("timestamp", fmt.Sprintf("must be an RFC 3339 date-time, got %q", clip(v)))
			}
			e.Timestamp = v
		default:
			err = s.skip(2)
		}
		return err
	})
	switch {
	case err != nil:
		return e, err
	case e.Speaker == "":
		return e, Invalid("speaker", "required")
	case !hasMessage:
		return e, Invalid("message", "required")
	}
	return e, nil
}

// speaker reads a speaker as its name in the speakers table ("" for
// null), so a valid speaker costs no allocation.
func (s *scanner) speaker() (string, error) {
	if s.null() {
		return "", nil
	}
	if s.peek() != '"' {
		return "", s.typeError("speaker", "a string")
	}
	b, err := s.rawString()
	if err != nil {
		return "", err
	}
	if string(b) == "bot" {
		return "agent", nil // older API generations
	}
	if sp, ok := speakers[string(b)]; ok {
		return sp.Name, nil
	}
	return "", Invalid("speaker", fmt.Sprintf("must be one of customer, agent, agent_request, agent_response (or bot), got %q", clip(string(b))))
}

// clip keeps echoed input short in error messages.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
