package db

import (
	"fmt"
	"strconv"
	"time"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/callflow"
	"github.com/enneo-edge/enneo-edge/model"
)

// Outbox record kinds, one per enneo endpoint a record is forwarded to:
// callReceived, agentConnected and callCompleted are POSTed to
// /telephony/<kind>; routingStatus is PATCHed to /profile/{UserID}/routingStatus.
const (
	KindCallReceived   = callflow.KindCallReceived
	KindAgentConnected = callflow.KindAgentConnected
	KindCallCompleted  = callflow.KindCallCompleted
	KindRoutingStatus  = callflow.KindRoutingStatus
)

// OutboxRecord is one request waiting to be forwarded to central enneo.
// Body is the JSON to send, with the edge's local IDs; the forwarder
// translates them to central IDs. Records of one ticket (or, for presence,
// of one user) are forwarded in Seq order.
type OutboxRecord struct {
	Seq       uint64          `json:"seq"`
	Kind      string          `json:"kind"`
	TicketID  int64           `json:"ticketId,omitempty"`
	UserID    int64           `json:"userId,omitempty"`
	Body      json.RawMessage `json:"body"`
	CreatedAt time.Time       `json:"createdAt"`
}

// appendOutbox adds r at the end of the outbox in tx; records are keyed by
// a sequence so cursor order is arrival order.
func appendOutbox(tx *bolt.Tx, r OutboxRecord) error {
	b := tx.Bucket(bucketOutbox)
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("next outbox seq: %w", err)
	}
	r.Seq = seq
	if err := b.Put(u64(int64(seq)), r.appendJSON(make([]byte, 0, 256+len(r.Body)))); err != nil {
		return fmt.Errorf("put outbox record %d: %w", seq, err)
	}
	if err := indexOutbox(tx, r); err != nil {
		return err
	}
	return addPending(tx, 1)
}

// appendJSON encodes the record without reflection: one is written per
// call inside the commit loop, and go-json would re-compact the body our
// own encoders already made compact. TestOutboxRecordEncoding keeps it in
// step with go-json, which reads it back.
func (r *OutboxRecord) appendJSON(b []byte) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, `,"kind":`...)
	b = model.AppendString(b, r.Kind)
	if r.TicketID != 0 {
		b = append(b, `,"ticketId":`...)
		b = strconv.AppendInt(b, r.TicketID, 10)
	}
	if r.UserID != 0 {
		b = append(b, `,"userId":`...)
		b = strconv.AppendInt(b, r.UserID, 10)
	}
	b = append(b, `,"body":`...)
	if len(r.Body) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, r.Body...)
	}
	b = append(b, `,"createdAt":"`...)
	b = r.CreatedAt.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"', '}')
}

// addPending keeps the pending count beside the records so the status
// route does not walk the backlog.
func addPending(tx *bolt.Tx, delta int64) error {
	return addCount(tx, metaOutboxPending, delta)
}

// OutboxStatus summarises the backlog for GET /edge/v1/outbox.
type OutboxStatus struct {
	Pending          int64      `json:"pending"`
	OldestPendingAt  *time.Time `json:"oldestPendingAt"`
	OldestPendingAge float64    `json:"oldestPendingAgeSeconds"`
	// DeadLetters counts records central refused (see DeadLetters).
	DeadLetters int64 `json:"deadLetters"`
	// Paused is set while central refuses the edge's credentials.
	Paused *PauseState `json:"paused"`
}

// OutboxStatus reports the backlog size and the age of its oldest record.
func (s *Store) OutboxStatus() (OutboxStatus, error) {
	var st OutboxStatus
	err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(metaOutboxPending); len(v) == 8 {
			st.Pending = fromU64(v)
		}
		if v := tx.Bucket(bucketMeta).Get(metaOutboxDead); len(v) == 8 {
			st.DeadLetters = fromU64(v)
		}
		var err error
		if st.Paused, err = pausedIn(tx); err != nil {
			return err
		}
		_, v := tx.Bucket(bucketOutbox).Cursor().First()
		if v == nil {
			return nil
		}
		var r OutboxRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode outbox record: %w", err)
		}
		st.OldestPendingAt = &r.CreatedAt
		st.OldestPendingAge = s.now().Sub(r.CreatedAt).Seconds()
		return nil
	})
	return st, err
}

// Outbox returns up to limit pending records from the head of the queue.
func (s *Store) Outbox(limit int) ([]OutboxRecord, error) {
	var out []OutboxRecord
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			var r OutboxRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode outbox record %d: %w", fromU64(k), err)
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}
