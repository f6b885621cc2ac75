package db

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/model"
)

// Order keys: the records of one ticket and the records of one agent go to
// central in Seq order; records sharing no key are independent. A record
// has a ticket key, a user key, or both: an agentConnected or a
// callCompleted belongs to its ticket and to the agent on the call, so an
// agent's presence changes and call follow-ups reach central in the order
// the edge made them. A key is a kind byte and the 8-byte ID. The
// outbox_keys index holds key+seq for every key of every pending record, so
// "does this ticket still have records on their way?" is one Seek instead of
// a walk of the backlog.
const (
	keyTicket = 't'
	keyUser   = 'u'
	keyLen    = 9
)

// orderKey returns r's primary key: its ticket's, or for presence its
// user's. Dead letters are filed under it.
func orderKey(r OutboxRecord) []byte {
	if r.Kind == KindRoutingStatus {
		return userKey(r.UserID)
	}
	return ticketKey(RecordTicket(r))
}

func ticketKey(id int64) []byte { return append([]byte{keyTicket}, u64(id)...) }
func userKey(id int64) []byte   { return append([]byte{keyUser}, u64(id)...) }

// orderKeys returns every key r is ordered by: the primary one and, for a
// follow-up naming an agent, the agent's.
func orderKeys(r OutboxRecord) [][]byte {
	ks := [][]byte{orderKey(r)}
	if r.Kind != KindRoutingStatus && r.UserID != 0 {
		ks = append(ks, userKey(r.UserID))
	}
	return ks
}

// OrderKey names the ticket or user whose records are forwarded in order
// with r, e.g. "ticket 1000100000000001" or "user 42".
func (r OutboxRecord) OrderKey() string {
	if r.Kind == KindRoutingStatus {
		return "user " + strconv.FormatInt(r.UserID, 10)
	}
	return "ticket " + strconv.FormatInt(RecordTicket(r), 10)
}

// RecordTicket returns the local ticket a record belongs to: its TicketID,
// or for follow-ups appended without one, the body's "ticketId".
func RecordTicket(r OutboxRecord) int64 {
	if r.TicketID != 0 || r.Kind == KindRoutingStatus {
		return r.TicketID
	}
	var b struct {
		TicketID json.RawMessage `json:"ticketId"`
	}
	if json.Unmarshal(r.Body, &b) != nil {
		return 0
	}
	id, _ := strconv.ParseInt(string(bytes.Trim(b.TicketID, `"`)), 10, 64)
	return id
}

func indexOutbox(tx *bolt.Tx, r OutboxRecord) error {
	for _, k := range orderKeys(r) {
		if err := tx.Bucket(bucketOutboxKeys).Put(append(k, u64(int64(r.Seq))...), nil); err != nil {
			return fmt.Errorf("index outbox record %d: %w", r.Seq, err)
		}
	}
	return nil
}

func unindexOutbox(tx *bolt.Tx, r OutboxRecord) error {
	for _, k := range orderKeys(r) {
		if err := tx.Bucket(bucketOutboxKeys).Delete(append(k, u64(int64(r.Seq))...)); err != nil {
			return fmt.Errorf("unindex outbox record %d: %w", r.Seq, err)
		}
	}
	return nil
}

// hasPrefix tells whether bucket b holds a key starting with prefix.
func hasPrefix(b *bolt.Bucket, prefix []byte) bool {
	k, _ := b.Cursor().Seek(prefix)
	return k != nil && bytes.HasPrefix(k, prefix)
}

// AppendOutbox adds one record at the end of the outbox in its own
// transaction and returns its Seq. Use cases append inside their own
// transaction; this is for tools and tests.
func (s *Store) AppendOutbox(ctx context.Context, r OutboxRecord) (uint64, error) {
	if s.repl != nil {
		var seq uint64
		err := s.submit(ctx, opAppendOutbox, r, &seq)
		return seq, err
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now().UTC()
	}
	var seq uint64
	err := s.write(ctx, func(tx *bolt.Tx) error {
		seq = 0
		if err := appendOutbox(tx, r); err != nil {
			return err
		}
		seq = tx.Bucket(bucketOutbox).Sequence()
		return nil
	})
	return seq, err
}

// Tries is what the forwarder remembers about a pending record's failed
// attempts; it survives restarts so a bounded retry stays bounded, a stuck
// record is seen as stuck, and an ambiguous attempt is looked up before the
// record is sent again.
type Tries struct {
	Attempts   int       `json:"attempts"`
	LastStatus int       `json:"lastStatus,omitempty"`
	LastError  string    `json:"lastError,omitempty"`
	LastAt     time.Time `json:"lastAt"`
	// FirstAt is when the first attempt failed.
	FirstAt time.Time `json:"firstAt"`
	// Ambiguous is set once an attempt may have reached central without
	// the edge learning the outcome (timeout, connection lost after the
	// request was written, 5xx): central may hold the record already.
	Ambiguous bool `json:"ambiguous,omitempty"`
}

// Failure is one failed attempt at a record.
type Failure struct {
	Status    int
	Msg       string
	Ambiguous bool
}

// Ready is a pending record the forwarder may send now: the oldest of each
// of its order keys.
type Ready struct {
	Record OutboxRecord
	// Keys identify the record's ticket and agent; the forwarder keeps one
	// record per key in flight.
	Keys  []string
	Tries Tries
	// CentralID is the central ID of a follow-up's ticket, 0 while
	// unknown (and for callReceived and routingStatus, which need none).
	CentralID int64
	// TicketState is a follow-up's ticket's forwarding state, "" when the
	// edge does not hold the ticket.
	TicketState string
	// BlockedBy is the seq of a dead letter of the record's ticket, 0 when
	// it has none: a ticket's later records wait behind its dead letters.
	BlockedBy uint64
}

// NextOutbox walks the outbox from its head and returns up to max records
// that are the oldest of every one of their order keys and whose keys busy
// does not claim. It reads at most scan records, so a head full of busy
// keys costs a bounded walk; the backlog itself stays on disk.
func (s *Store) NextOutbox(max, scan int, busy func(key string) bool) ([]Ready, error) {
	var out []Ready
	err := s.view(func(tx *bolt.Tx) error {
		seen := make(map[string]struct{})
		tries := tx.Bucket(bucketOutboxTries)
		dead := tx.Bucket(bucketDeadLetters).Cursor()
		c := tx.Bucket(bucketOutbox).Cursor()
		for k, v := c.First(); k != nil && len(out) < max && scan > 0; k, v = c.Next() {
			scan--
			var r OutboxRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode outbox record %d: %w", fromU64(k), err)
			}
			ok := true
			var keys []string
			for _, kb := range orderKeys(r) {
				key := string(kb)
				if _, older := seen[key]; older || busy(key) {
					ok = false
				}
				// Seen either way: a later record sharing any key with this
				// one must wait for it, even when this one waits itself.
				seen[key] = struct{}{}
				keys = append(keys, key)
			}
			if !ok {
				continue
			}
			rd := Ready{Record: r, Keys: keys}
			if tv := tries.Get(k); tv != nil {
				if err := json.Unmarshal(tv, &rd.Tries); err != nil {
					return fmt.Errorf("decode tries of outbox record %d: %w", r.Seq, err)
				}
			}
			if r.Kind != KindRoutingStatus {
				tk := ticketKey(RecordTicket(r))
				if dk, _ := dead.Seek(tk); dk != nil && bytes.HasPrefix(dk, tk) {
					rd.BlockedBy = uint64(fromU64(dk[keyLen:]))
				}
			}
			if r.Kind != KindRoutingStatus && r.Kind != KindCallReceived {
				// Only follow-ups need their ticket: its central ID.
				t, err := getTicket(tx, RecordTicket(r))
				switch {
				case err == nil:
					rd.CentralID, rd.TicketState = t.CentralID, t.Forwarding.State
				case !isNotFound(err):
					return err
				}
			}
			out = append(out, rd)
		}
		return nil
	})
	return out, err
}

// MarkDelivered records that central accepted outbox record seq, in one
// transaction: the record, its index entry and its tries go, the pending
// count drops, and for a callReceived the central ticket ID is stored
// beside the local one. A ticket with nothing left on its way is synced
// (and, from then on, subject to retention). A seq that is no longer
// pending is ignored: delivering twice changes nothing.
func (s *Store) MarkDelivered(ctx context.Context, seq uint64, centralID int64) error {
	if s.repl != nil {
		return s.submit(ctx, opMarkDelivered, seqArgs{Seq: seq, CentralID: centralID}, nil)
	}
	return s.write(ctx, func(tx *bolt.Tx) error {
		r, ok, err := takeOutbox(tx, seq)
		if err != nil || !ok {
			return err
		}
		if r.Kind == KindRoutingStatus {
			return nil
		}
		t, err := getTicket(tx, RecordTicket(r))
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if r.Kind == KindCallReceived && centralID != 0 {
			t.CentralID, t.Forwarding.CentralID = centralID, centralID
		}
		t.Forwarding.LastError = ""
		if t.Forwarding.State == model.ForwardDead {
			// A follow-up of a ticket with a dead letter went through; the
			// ticket stays marked until the dead letter is resolved.
			return putTicket(tx, t)
		}
		return markSyncedIfDone(tx, t, s.now().UTC())
	})
}

// markSyncedIfDone stores t, synced when none of its records is pending or
// dead-lettered.
func markSyncedIfDone(tx *bolt.Tx, t *model.Ticket, now time.Time) error {
	key := append([]byte{keyTicket}, u64(t.ID)...)
	if hasPrefix(tx.Bucket(bucketOutboxKeys), key) || hasPrefix(tx.Bucket(bucketDeadLetters), key) {
		t.Forwarding.State = model.ForwardPending
		return putTicket(tx, t)
	}
	t.Forwarding.State, t.Forwarding.SyncedAt = model.ForwardSynced, &now
	if err := tx.Bucket(bucketSynced).Put(syncedKey(now, t.ID), nil); err != nil {
		return fmt.Errorf("index synced ticket %d: %w", t.ID, err)
	}
	return putTicket(tx, t)
}

func syncedKey(at time.Time, id int64) []byte {
	return append(u64(at.UnixNano()), u64(id)...)
}

// takeOutbox removes pending record seq with its index entry and tries and
// drops the pending count; ok is false when seq is not pending.
func takeOutbox(tx *bolt.Tx, seq uint64) (OutboxRecord, bool, error) {
	var r OutboxRecord
	b := tx.Bucket(bucketOutbox)
	k := u64(int64(seq))
	v := b.Get(k)
	if v == nil {
		return r, false, nil
	}
	if err := json.Unmarshal(v, &r); err != nil {
		return r, false, fmt.Errorf("decode outbox record %d: %w", seq, err)
	}
	if err := b.Delete(k); err != nil {
		return r, false, fmt.Errorf("delete outbox record %d: %w", seq, err)
	}
	if err := unindexOutbox(tx, r); err != nil {
		return r, false, err
	}
	if err := tx.Bucket(bucketOutboxTries).Delete(k); err != nil {
		return r, false, fmt.Errorf("delete tries of outbox record %d: %w", seq, err)
	}
	return r, true, addPending(tx, -1)
}

// RecordFailure counts a failed attempt at record seq and returns the
// attempts so far (0 when seq is no longer pending). Once ambiguous, a
// record stays so until it is delivered.
func (s *Store) RecordFailure(ctx context.Context, seq uint64, fl Failure) (int, error) {
	var n int
	if s.repl != nil {
		err := s.submit(ctx, opRecordFailure, seqArgs{Seq: seq, Failure: fl}, &n)
		return n, err
	}
	err := s.write(ctx, func(tx *bolt.Tx) error {
		n = 0
		k := u64(int64(seq))
		if tx.Bucket(bucketOutbox).Get(k) == nil {
			return nil
		}
		b := tx.Bucket(bucketOutboxTries)
		var tr Tries
		if v := b.Get(k); v != nil {
			if err := json.Unmarshal(v, &tr); err != nil {
				return fmt.Errorf("decode tries of outbox record %d: %w", seq, err)
			}
		}
		now := s.now().UTC()
		if tr.Attempts == 0 || tr.FirstAt.IsZero() {
			tr.FirstAt = now
		}
		tr.Attempts++
		tr.LastStatus, tr.LastError, tr.LastAt = fl.Status, fl.Msg, now
		tr.Ambiguous = tr.Ambiguous || fl.Ambiguous
		n = tr.Attempts
		return putJSON(b, k, tr, "outbox tries")
	})
	return n, err
}

// SendLease returns the highest seq the forwarder may have sent before
// this start: records up to it may be at central already, so each is
// looked up before it is sent again (a SIGKILL forgets what was in flight).
func (s *Store) SendLease() (uint64, error) {
	var lease uint64
	err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(metaOutboxSendLease); len(v) == 8 {
			lease = uint64(fromU64(v))
		}
		return nil
	})
	return lease, err
}

// ExtendSendLease durably raises the send lease to upTo. The forwarder
// extends it in steps well ahead of what it sends, so this is one small
// commit per many records, not one per send.
func (s *Store) ExtendSendLease(ctx context.Context, upTo uint64) error {
	if s.repl != nil {
		return s.submit(ctx, opExtendSendLease, seqArgs{Seq: upTo}, nil)
	}
	return s.write(ctx, func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if v := m.Get(metaOutboxSendLease); len(v) == 8 && uint64(fromU64(v)) >= upTo {
			return nil
		}
		return m.Put(metaOutboxSendLease, u64(int64(upTo)))
	})
}

// PauseState says why the forwarder stopped sending: central refused its
// credentials (401/403), which no retry of a single record can fix.
type PauseState struct {
	Since  time.Time `json:"since"`
	Status int       `json:"status"`
	Reason string    `json:"reason"`
}

// SetPaused stores the pause state (nil clears it), so the status route
// and the CLI show it, also after a restart.
func (s *Store) SetPaused(ctx context.Context, p *PauseState) error {
	if s.repl != nil {
		return s.submit(ctx, opSetPaused, p, nil)
	}
	return s.write(ctx, func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if p == nil {
			return m.Delete(metaOutboxPaused)
		}
		return putJSON(m, metaOutboxPaused, p, "pause state")
	})
}

// Paused returns the stored pause state, nil when the queue runs.
func (s *Store) Paused() (*PauseState, error) {
	var p *PauseState
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		p, err = pausedIn(tx)
		return err
	})
	return p, err
}

func pausedIn(tx *bolt.Tx) (*PauseState, error) {
	v := tx.Bucket(bucketMeta).Get(metaOutboxPaused)
	if v == nil {
		return nil, nil
	}
	p := new(PauseState)
	if err := json.Unmarshal(v, p); err != nil {
		return nil, fmt.Errorf("decode pause state: %w", err)
	}
	return p, nil
}

// Stuck is a pending record that has kept failing: central answers it
// with 5xx (or not at all) for longer than the operator's patience. It is
// still retried; an operator may dead-letter it by hand.
type Stuck struct {
	Seq   uint64 `json:"seq"`
	Kind  string `json:"kind"`
	Key   string `json:"key"`
	Tries Tries  `json:"tries"`
}

// StuckOutbox returns up to limit pending records whose first failed
// attempt is before since, and how many there are. It walks the tries,
// which exist only for records that failed, not the backlog.
func (s *Store) StuckOutbox(since time.Time, limit int) ([]Stuck, int64, error) {
	var (
		out   []Stuck
		total int64
	)
	err := s.view(func(tx *bolt.Tx) error {
		outbox := tx.Bucket(bucketOutbox)
		c := tx.Bucket(bucketOutboxTries).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var tr Tries
			if err := json.Unmarshal(v, &tr); err != nil {
				return fmt.Errorf("decode tries of outbox record %d: %w", fromU64(k), err)
			}
			if tr.FirstAt.IsZero() || !tr.FirstAt.Before(since) {
				continue
			}
			total++
			if len(out) >= limit {
				continue
			}
			var r OutboxRecord
			if rv := outbox.Get(k); rv != nil {
				if err := json.Unmarshal(rv, &r); err != nil {
					return fmt.Errorf("decode outbox record %d: %w", fromU64(k), err)
				}
			}
			out = append(out, Stuck{Seq: uint64(fromU64(k)), Kind: r.Kind, Key: r.OrderKey(), Tries: tr})
		}
		return nil
	})
	return out, total, err
}

// Tries returns what is remembered of pending record seq's failed
// attempts; ok is false when seq is not pending.
func (s *Store) Tries(seq uint64) (tr Tries, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		k := u64(int64(seq))
		if tx.Bucket(bucketOutbox).Get(k) == nil {
			return nil
		}
		ok = true
		if v := tx.Bucket(bucketOutboxTries).Get(k); v != nil {
			return json.Unmarshal(v, &tr)
		}
		return nil
	})
	return tr, ok, err
}
