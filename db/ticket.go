package db

import (
	"fmt"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/model"
)

// Ticket returns the stored ticket and its queue entry (nil when the call
// has none).
func (s *Store) Ticket(id int64) (*model.Ticket, *model.QueueEntry, error) {
	if err := s.linearize(); err != nil {
		return nil, nil, err
	}
	var (
		t *model.Ticket
		q *model.QueueEntry
	)
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		if t, err = getTicket(tx, id); err != nil {
			return err
		}
		if t.QueueID != 0 {
			q, err = getQueueEntry(tx, t.QueueID)
		}
		return err
	})
	return t, q, err
}

// TicketByChannel resolves a channelId to its ticket ID.
func (s *Store) TicketByChannel(channelID string) (int64, error) {
	if err := s.linearize(); err != nil {
		return 0, err
	}
	var id int64
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketChannels).Get([]byte(channelID))
		if v == nil {
			return fmt.Errorf("channel %q: %w", channelID, ErrNotFound)
		}
		id = fromU64(v)
		return nil
	})
	return id, err
}

func getTicket(tx *bolt.Tx, id int64) (*model.Ticket, error) {
	v := tx.Bucket(bucketTickets).Get(u64(id))
	if v == nil {
		return nil, fmt.Errorf("ticket %d: %w", id, ErrNotFound)
	}
	t := new(model.Ticket)
	if err := json.Unmarshal(v, t); err != nil {
		return nil, fmt.Errorf("decode ticket %d: %w", id, err)
	}
	return t, nil
}

func putTicket(tx *bolt.Tx, t *model.Ticket) error {
	// Encoded by hand (model/encode.go): this runs for every call inside
	// the single commit loop. bbolt keeps the slice until the commit, so
	// it is a fresh one each time.
	if err := tx.Bucket(bucketTickets).Put(u64(t.ID), t.AppendJSON(make([]byte, 0, 1024))); err != nil {
		return fmt.Errorf("put ticket %d: %w", t.ID, err)
	}
	return nil
}

func writeQueueEntry(b *bolt.Bucket, q *model.QueueEntry) error {
	if err := b.Put(u64(q.ID), q.AppendJSON(make([]byte, 0, 384))); err != nil {
		return fmt.Errorf("put queue entry %d: %w", q.ID, err)
	}
	return nil
}

func getQueueEntry(tx *bolt.Tx, id int64) (*model.QueueEntry, error) {
	v := tx.Bucket(bucketQueues).Get(u64(id))
	if v == nil {
		return nil, fmt.Errorf("queue entry %d: %w", id, ErrNotFound)
	}
	q := new(model.QueueEntry)
	if err := json.Unmarshal(v, q); err != nil {
		return nil, fmt.Errorf("decode queue entry %d: %w", id, err)
	}
	return q, nil
}

func getPresence(tx *bolt.Tx, userID int64) (*model.Presence, error) {
	v := tx.Bucket(bucketPresence).Get(u64(userID))
	if v == nil {
		return &model.Presence{UserID: userID, CallRoutingStatus: model.PresenceOffline, ChatRoutingStatus: model.PresenceOffline}, nil
	}
	p := new(model.Presence)
	if err := json.Unmarshal(v, p); err != nil {
		return nil, fmt.Errorf("decode presence of %d: %w", userID, err)
	}
	return p, nil
}

func putPresence(tx *bolt.Tx, p *model.Presence) error {
	return putJSON(tx.Bucket(bucketPresence), u64(p.UserID), p, fmt.Sprintf("presence of %d", p.UserID))
}

func eachPresence(tx *bolt.Tx, fn func(p *model.Presence) error) error {
	c := tx.Bucket(bucketPresence).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		p := new(model.Presence)
		if err := json.Unmarshal(v, p); err != nil {
			return fmt.Errorf("decode presence of %d: %w", fromU64(k), err)
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// Presence returns an agent's routing status (offline when never seen).
func (s *Store) Presence(userID int64) (*model.Presence, error) {
	if err := s.linearize(); err != nil {
		return nil, err
	}
	var p *model.Presence
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		p, err = getPresence(tx, userID)
		return err
	})
	return p, err
}
