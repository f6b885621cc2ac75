package db

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/model"
)

// maxResponseKept bounds the part of central's answer kept with a dead
// letter: enough to read the validation error, not a whole HTML page.
const maxResponseKept = 2048

// DeadLetter is an outbox record central refused for good (a 4xx other
// than 401/403/408/425/429), or one parked behind such a record. Dead
// letters are kept until an operator retries them; nothing deletes them.
// They are keyed by order key and seq, so "does this ticket have a dead
// letter?" is one Seek.
type DeadLetter struct {
	Seq    uint64       `json:"seq"`
	Record OutboxRecord `json:"record"`
	// Status is the HTTP status of central's last answer; 0 when the
	// record was parked without being sent.
	Status int    `json:"status,omitempty"`
	Reason string `json:"reason"`
	// Response is the start of central's answer body.
	Response string    `json:"response,omitempty"`
	Attempts int       `json:"attempts"`
	DeadAt   time.Time `json:"deadAt"`
	// Parked marks a record that waits behind a dead letter of its ticket:
	// a ticket's records reach central in order or not at all. Retrying
	// that dead letter retries it too.
	Parked bool `json:"parked,omitempty"`
	// Tries are the record's failed attempts when it died; a retry puts
	// them back, so a record that may be at central already (Ambiguous) is
	// looked up before it is sent again.
	Tries *Tries `json:"tries,omitempty"`
}

// DeadReason is why the forwarder gives up on a record.
type DeadReason struct {
	Status   int
	Reason   string
	Response string
	// Parked: the record was not refused itself, it waits for its ticket.
	Parked bool
}

// DeadLetter moves pending record seq to the dead letters in one
// transaction. A dead record of a ticket takes the ticket's later records
// with it (parked): sent past it they would reach central out of order (and
// without a central ticket ID, after a dead callReceived). A seq that is no
// longer pending is ignored.
func (s *Store) DeadLetter(ctx context.Context, seq uint64, why DeadReason) error {
	if len(why.Response) > maxResponseKept {
		why.Response = why.Response[:maxResponseKept]
	}
	if s.repl != nil {
		return s.submit(ctx, opDeadLetter, seqArgs{Seq: seq, Dead: why}, nil)
	}
	return s.write(ctx, func(tx *bolt.Tx) error {
		now := s.now().UTC()
		r, ok, err := buryRecord(tx, seq, why, now)
		if err != nil || !ok {
			return err
		}
		if r.Kind == KindRoutingStatus {
			return nil
		}
		if err := parkFollowers(tx, r, now); err != nil {
			return err
		}
		t, err := getTicket(tx, RecordTicket(r))
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		t.Forwarding.State, t.Forwarding.LastError = model.ForwardDead, fmt.Sprintf("%s record %d: %s", r.Kind, seq, why.Reason)
		return putTicket(tx, t)
	})
}

// buryRecord moves one pending record into the dead letters.
func buryRecord(tx *bolt.Tx, seq uint64, why DeadReason, now time.Time) (OutboxRecord, bool, error) {
	var tr Tries
	if v := tx.Bucket(bucketOutboxTries).Get(u64(int64(seq))); v != nil {
		if err := json.Unmarshal(v, &tr); err != nil {
			return OutboxRecord{}, false, fmt.Errorf("decode tries of outbox record %d: %w", seq, err)
		}
	}
	r, ok, err := takeOutbox(tx, seq)
	if err != nil || !ok {
		return r, ok, err
	}
	d := DeadLetter{Seq: seq, Record: r, Status: why.Status, Reason: why.Reason, Response: why.Response,
		Attempts: tr.Attempts, DeadAt: now, Parked: why.Parked}
	if tr.Attempts > 0 {
		d.Tries = &tr
	}
	if err := putJSON(tx.Bucket(bucketDeadLetters), append(orderKey(r), u64(int64(seq))...), d, "dead letter"); err != nil {
		return r, false, err
	}
	return r, true, addCount(tx, metaOutboxDead, 1)
}

// parkFollowers moves the pending records of a dead record's ticket to the
// dead letters beside it.
func parkFollowers(tx *bolt.Tx, r OutboxRecord, now time.Time) error {
	key := orderKey(r)
	var seqs []uint64
	c := tx.Bucket(bucketOutboxKeys).Cursor()
	for k, _ := c.Seek(key); k != nil && bytes.HasPrefix(k, key); k, _ = c.Next() {
		seqs = append(seqs, binary.BigEndian.Uint64(k[keyLen:]))
	}
	why := DeadReason{Reason: fmt.Sprintf("waits for dead-lettered %s %d of its ticket", r.Kind, r.Seq), Parked: true}
	for _, seq := range seqs {
		if _, _, err := buryRecord(tx, seq, why, now); err != nil {
			return err
		}
	}
	return nil
}

// DeadLetters returns up to limit dead letters, grouped by ticket (or
// user), oldest first within each, and how many there are in all.
func (s *Store) DeadLetters(limit int) ([]DeadLetter, int64, error) {
	var (
		out   []DeadLetter
		total int64
	)
	err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(metaOutboxDead); len(v) == 8 {
			total = fromU64(v)
		}
		c := tx.Bucket(bucketDeadLetters).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			var d DeadLetter
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("decode dead letter %x: %w", k, err)
			}
			out = append(out, d)
		}
		return nil
	})
	return out, total, err
}

// RetryDead puts dead letter seq back into the outbox at its old place, so
// it keeps its order among its ticket's records, together with the records
// parked behind it. It returns how many records went back, and ErrNotFound
// when seq is not a dead letter.
func (s *Store) RetryDead(ctx context.Context, seq uint64) (int, error) {
	var n int
	if s.repl != nil {
		err := s.submit(ctx, opRetryDead, seqArgs{Seq: seq}, &n)
		return n, err
	}
	err := s.write(ctx, func(tx *bolt.Tx) error {
		n = 0
		key := findDead(tx, seq)
		if key == nil {
			return fmt.Errorf("dead letter %d: %w", seq, ErrNotFound)
		}
		prefix := key[:keyLen]
		var keys [][]byte
		c := tx.Bucket(bucketDeadLetters).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var d DeadLetter
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("decode dead letter %x: %w", k, err)
			}
			if bytes.Equal(k, key) || d.Parked {
				keys = append(keys, bytes.Clone(k))
			}
		}
		var users []int64
		for _, k := range keys {
			r, err := resurrect(tx, k)
			if err != nil {
				return err
			}
			users = append(users, followUser(r))
		}
		n = len(keys)
		return followWithPresence(tx, users, s.now().UTC())
	})
	return n, err
}

// followUser is the agent a retried ticket record names, 0 for none.
func followUser(r OutboxRecord) int64 {
	if r.Kind == KindRoutingStatus {
		return 0
	}
	return r.UserID
}

// findDead returns the bucket key of dead letter seq, or nil. Dead letters
// are few and retried by hand, so a walk is fine.
func findDead(tx *bolt.Tx, seq uint64) []byte {
	want := u64(int64(seq))
	c := tx.Bucket(bucketDeadLetters).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if bytes.Equal(k[keyLen:], want) {
			return bytes.Clone(k)
		}
	}
	return nil
}

// RetryAllDead puts every dead letter back into the outbox and returns how
// many went back. Records dead-lettered again while it runs stay dead.
func (s *Store) RetryAllDead(ctx context.Context) (int, error) {
	if s.repl != nil {
		var n int
		err := s.submit(ctx, opRetryAllDead, nil, &n)
		return n, err
	}
	var keys [][]byte
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDeadLetters).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 500)]
		keys = keys[len(batch):]
		moved := 0
		err := s.write(ctx, func(tx *bolt.Tx) error {
			moved = 0
			var users []int64
			for _, k := range batch {
				if tx.Bucket(bucketDeadLetters).Get(k) == nil {
					continue
				}
				r, err := resurrect(tx, k)
				if err != nil {
					return err
				}
				users = append(users, followUser(r))
				moved++
			}
			return followWithPresence(tx, users, s.now().UTC())
		})
		if err != nil {
			return n, err
		}
		n += moved
	}
	return n, nil
}

// resurrect moves one dead letter back into the outbox under its old seq.
func resurrect(tx *bolt.Tx, key []byte) (OutboxRecord, error) {
	dead := tx.Bucket(bucketDeadLetters)
	var d DeadLetter
	if err := json.Unmarshal(dead.Get(key), &d); err != nil {
		return OutboxRecord{}, fmt.Errorf("decode dead letter %x: %w", key, err)
	}
	if err := dead.Delete(key); err != nil {
		return OutboxRecord{}, fmt.Errorf("delete dead letter %d: %w", d.Seq, err)
	}
	r := d.Record
	if r.Kind == KindRoutingStatus {
		// Later changes of the agent may have reached central meanwhile:
		// the record goes back with the agent's presence now, never an old
		// one after a newer.
		body, err := presenceNow(tx, r.UserID, r.Body)
		if err != nil {
			return r, err
		}
		r.Body = body
	}
	if err := putJSON(tx.Bucket(bucketOutbox), u64(int64(r.Seq)), r, "outbox record"); err != nil {
		return r, err
	}
	if d.Tries != nil && d.Tries.Ambiguous {
		// A fresh count of attempts, but central may hold it: looked up
		// before it is sent.
		tr := Tries{Ambiguous: true, LastError: d.Tries.LastError, LastStatus: d.Tries.LastStatus, LastAt: d.Tries.LastAt}
		if err := putJSON(tx.Bucket(bucketOutboxTries), u64(int64(r.Seq)), tr, "outbox tries"); err != nil {
			return r, err
		}
	}
	if err := indexOutbox(tx, r); err != nil {
		return r, err
	}
	if err := addPending(tx, 1); err != nil {
		return r, err
	}
	if err := addCount(tx, metaOutboxDead, -1); err != nil {
		return r, err
	}
	if r.Kind == KindRoutingStatus || hasPrefix(dead, key[:keyLen]) {
		return r, nil
	}
	t, err := getTicket(tx, RecordTicket(r))
	if isNotFound(err) {
		return r, nil
	}
	if err != nil {
		return r, err
	}
	t.Forwarding.State, t.Forwarding.LastError = model.ForwardPending, ""
	return r, putTicket(tx, t)
}

// presenceNow is a routingStatus body with the agent's presence as stored
// now; the chat status goes along only when the old body carried one.
func presenceNow(tx *bolt.Tx, userID int64, old []byte) ([]byte, error) {
	var was model.RoutingStatusChange
	if err := json.Unmarshal(old, &was); err != nil {
		return nil, fmt.Errorf("decode presence record of user %d: %w", userID, err)
	}
	p, err := getPresence(tx, userID)
	if err != nil {
		return nil, err
	}
	now := model.RoutingStatusChange{CallRoutingStatus: p.CallRoutingStatus}
	if was.ChatRoutingStatus != "" {
		now.ChatRoutingStatus = p.ChatRoutingStatus
	}
	return json.Marshal(now)
}

// followWithPresence appends, for every agent named by a record that went
// back into the outbox, the agent's presence now: those records reach
// central after the agent's later presence changes did, and would leave
// central's presence where they moved it (interacting, acw) while the
// edge's has moved on. The new records share the agent's order key, so
// they go after the retried ones.
func followWithPresence(tx *bolt.Tx, users []int64, now time.Time) error {
	seen := map[int64]bool{}
	for _, u := range users {
		if u == 0 || seen[u] {
			continue
		}
		seen[u] = true
		body, err := presenceNow(tx, u, []byte(`{}`))
		if err != nil {
			return err
		}
		if err := appendOutbox(tx, OutboxRecord{Kind: KindRoutingStatus, UserID: u, Body: body, CreatedAt: now}); err != nil {
			return err
		}
	}
	return nil
}
