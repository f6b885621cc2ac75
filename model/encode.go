package model

import (
	"slices"
	"strconv"
	"time"

	json "github.com/goccy/go-json"
)

// The stored ticket and queue entry are encoded by hand: they are written
// inside the single group-commit loop on every call, where reflection-based
// encoding was the largest CPU cost (BENCHMARKS.md). They are read back with
// go-json; TestEncodersMatchGoJSON keeps both in step, field by field.

// jsonWriter appends one JSON object's members.
type jsonWriter struct {
	b    []byte
	more bool
}

func (w *jsonWriter) key(k string) {
	if w.more {
		w.b = append(w.b, ',')
	}
	w.more = true
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

func (w *jsonWriter) str(k, v string) {
	w.key(k)
	w.b = AppendString(w.b, v)
}

func (w *jsonWriter) strOmit(k, v string) {
	if v != "" {
		w.str(k, v)
	}
}

// idOmit writes an ID the contract types integer|null: a canonical
// integer goes out as a number, anything else (ERP IDs may be strings) as
// the string it was.
func (w *jsonWriter) idOmit(k, v string) {
	if v == "" {
		return
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 && n < 1<<53 && strconv.FormatInt(n, 10) == v {
		w.int(k, n)
		return
	}
	w.str(k, v)
}

func (w *jsonWriter) int(k string, v int64) {
	w.key(k)
	w.b = strconv.AppendInt(w.b, v, 10)
}

func (w *jsonWriter) intOmit(k string, v int64) {
	if v != 0 {
		w.int(k, v)
	}
}

func (w *jsonWriter) intPtr(k string, v *int64) {
	w.key(k)
	if v == nil {
		w.b = append(w.b, "null"...)
		return
	}
	w.b = strconv.AppendInt(w.b, *v, 10)
}

func (w *jsonWriter) bool(k string, v bool) {
	w.key(k)
	w.b = strconv.AppendBool(w.b, v)
}

func (w *jsonWriter) time(k string, t time.Time) {
	w.key(k)
	w.b = appendTime(w.b, t)
}

// timePtr writes null for nil unless omit is set, then it writes nothing.
func (w *jsonWriter) timePtr(k string, t *time.Time, omit bool) {
	switch {
	case t != nil:
		w.time(k, *t)
	case !omit:
		w.key(k)
		w.b = append(w.b, "null"...)
	}
}

// appendTime writes what time.Time.MarshalJSON writes.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// AppendJSON appends the ticket as stored.
func (t *Ticket) AppendJSON(b []byte) []byte {
	w := jsonWriter{b: append(b, '{')}
	w.int("id", t.ID)
	w.intOmit("centralId", t.CentralID)
	w.str("channel", t.Channel)
	w.str("direction", t.Direction)
	w.str("status", t.Status)
	w.str("routing", t.Routing)
	w.strOmit("from", t.From)
	w.strOmit("fromName", t.FromName)
	w.strOmit("to", t.To)
	w.str("channelId", t.ChannelID)
	if t.ChannelIDGenerated {
		w.bool("channelIdGenerated", true)
	}
	w.intOmit("subchannelId", t.SubchannelID)
	w.strOmit("externalTicketId", t.ExternalTicketID)
	w.strOmit("contractId", t.ContractID)
	w.strOmit("customerId", t.CustomerID)
	w.intOmit("agentId", t.AgentID)
	w.intOmit("aiAgentId", t.AIAgentID)
	w.bool("triggerAiProcessing", t.TriggerAIProcessing)
	w.intOmit("queueId", t.QueueID)
	w.key("conversation")
	w.b = appendConversation(w.b, t.Conversation)
	w.key("events")
	w.b = appendEvents(w.b, t.Events)
	w.key("forwarding")
	w.b = t.Forwarding.appendJSON(w.b)
	w.time("createdAt", t.CreatedAt)
	w.time("modifiedAt", t.ModifiedAt)
	if d := t.Durations; d != nil {
		w.key("durations")
		dw := jsonWriter{b: append(w.b, '{')}
		dw.intPtr("totalDurationSeconds", d.TotalSeconds)
		dw.intPtr("botDurationSeconds", d.BotSeconds)
		dw.intPtr("queueDurationSeconds", d.QueueSeconds)
		dw.intPtr("humanDurationSeconds", d.HumanSeconds)
		w.b = append(dw.b, '}')
	}
	w.timePtr("callEndedAt", t.CallEndedAt, true)
	return append(w.b, '}')
}

func appendConversation(b []byte, cs []Conversation) []byte {
	if cs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range cs {
		if i > 0 {
			b = append(b, ',')
		}
		c := &cs[i]
		w := jsonWriter{b: append(b, '{')}
		w.str("direction", c.Direction)
		w.str("type", c.Type)
		w.str("speaker", c.Speaker)
		w.str("message", c.Message)
		w.strOmit("timestamp", c.Timestamp)
		b = append(w.b, '}')
	}
	return append(b, ']')
}

func appendEvents(b []byte, es []Event) []byte {
	if es == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range es {
		if i > 0 {
			b = append(b, ',')
		}
		e := &es[i]
		w := jsonWriter{b: append(b, '{')}
		w.str("type", e.Type)
		w.time("at", e.At)
		if len(e.Data) > 0 {
			w.key("data")
			w.b = appendData(w.b, e.Data)
		}
		b = append(w.b, '}')
	}
	return append(b, ']')
}

// appendData writes an event's data with sorted keys; the value types the
// store uses are written directly, anything else through go-json.
func appendData(b []byte, m map[string]any) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, k)
		b = append(b, ':')
		switch v := m[k].(type) {
		case string:
			b = AppendString(b, v)
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case bool:
			b = strconv.AppendBool(b, v)
		case nil:
			b = append(b, "null"...)
		default:
			raw, err := json.Marshal(v)
			if err != nil {
				raw = []byte("null")
			}
			b = append(b, raw...)
		}
	}
	return append(b, '}')
}

func (f *Forwarding) appendJSON(b []byte) []byte {
	w := jsonWriter{b: append(b, '{')}
	w.str("state", f.State)
	w.intOmit("centralId", f.CentralID)
	w.timePtr("syncedAt", f.SyncedAt, true)
	w.strOmit("lastError", f.LastError)
	return append(w.b, '}')
}

// AppendJSON appends the queue entry as stored.
func (q *QueueEntry) AppendJSON(b []byte) []byte {
	w := jsonWriter{b: append(b, '{')}
	w.int("id", q.ID)
	w.int("ticketId", q.TicketID)
	w.str("status", q.Status)
	w.strOmit("declineReasonCode", q.DeclineReasonCode)
	w.strOmit("declineReasonMessage", q.DeclineReasonMessage)
	w.intOmit("primaryTagId", q.PrimaryTagID)
	w.str("channel", q.Channel)
	w.intOmit("subchannelId", q.SubchannelID)
	w.intOmit("assignedUserId", q.AssignedUserID)
	w.time("createdAt", q.CreatedAt)
	w.timePtr("routedAt", q.RoutedAt, false)
	w.timePtr("completedAt", q.CompletedAt, false)
	w.time("updatedAt", q.UpdatedAt)
	w.timePtr("callStartedAt", q.CallStartedAt, true)
	return append(w.b, '}')
}

// AppendJSON appends the call as the body forwarded to central: enneo's
// field names, absent fields left out.
func (c *Call) AppendJSON(b []byte) []byte {
	w := jsonWriter{b: append(b, '{')}
	w.str("routing", c.Routing)
	w.str("direction", c.Direction)
	w.str("status", c.Status)
	w.bool("triggerAiProcessing", c.TriggerAIProcessing)
	w.idOmit("contractId", c.ContractID)
	w.idOmit("customerId", c.CustomerID)
	w.strOmit("phone", c.Phone)
	w.strOmit("to", c.To)
	w.intOmit("agentId", c.AgentID)
	w.intOmit("aiAgentId", c.AIAgentID)
	w.intOmit("userId", c.UserID)
	w.intOmit("triggeredBy", c.TriggeredBy)
	w.intOmit("subchannelId", c.SubchannelID)
	w.strOmit("channelId", c.ChannelID)
	w.strOmit("callerName", c.CallerName)
	w.strOmit("externalTicketId", c.ExternalTicketID)
	if len(c.Transcript) > 0 {
		w.key("transcript")
		w.b = append(w.b, '[')
		for i := range c.Transcript {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			e := &c.Transcript[i]
			ew := jsonWriter{b: append(w.b, '{')}
			ew.str("speaker", e.Speaker)
			ew.str("message", e.Message)
			ew.strOmit("timestamp", e.Timestamp)
			w.b = append(ew.b, '}')
		}
		w.b = append(w.b, ']')
	}
	return append(w.b, '}')
}
