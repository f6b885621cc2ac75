package db

import (
	"encoding/binary"
	"fmt"
	"time"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"
)

// Outbox record kinds, one per enneo endpoint a record is forwarded to:
// callReceived, agentConnected and callCompleted are POSTed to
// /telephony/<kind>; routingStatus is PATCHed to /profile/{UserID}/routingStatus.
const (
	KindCallReceived   = "callReceived"
	KindAgentConnected = "agentConnected"
	KindCallCompleted  = "callCompleted"
	KindRoutingStatus  = "routingStatus"
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
	if err := putJSON(b, u64(int64(seq)), r, "outbox record"); err != nil {
		return err
	}
	if err := indexOutbox(tx, r); err != nil {
		return err
	}
	return addPending(tx, 1)
}

// addPending keeps the pending count beside the records so the status
// route does not walk the backlog.
func addPending(tx *bolt.Tx, delta int64) error {
	m := tx.Bucket(bucketMeta)
	var n int64
	if v := m.Get(metaOutboxPending); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	return m.Put(metaOutboxPending, u64(n+delta))
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
	err := s.bolt.View(func(tx *bolt.Tx) error {
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
	err := s.bolt.View(func(tx *bolt.Tx) error {
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
