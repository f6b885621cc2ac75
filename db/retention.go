package db

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/model"
)

// PruneSynced deletes up to limit tickets that became synced before cutoff,
// with their channelId index entry and queue entry, in one transaction,
// and returns how many went. Tickets with a record still pending or
// dead-lettered are never deleted, whatever their age: the synced index
// may be stale (a follow-up was appended after the ticket synced), so every
// candidate is checked again here.
func (s *Store) PruneSynced(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	var n int
	err := s.write(ctx, func(tx *bolt.Tx) error {
		n = 0
		idx := tx.Bucket(bucketSynced)
		var keys [][]byte
		c := idx.Cursor()
		for k, _ := c.First(); k != nil && len(keys) < limit; k, _ = c.Next() {
			if fromU64(k[:8]) > cutoff.UnixNano() {
				break
			}
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			// The entry goes in every case: either its ticket goes, or the
			// ticket is not (or no longer) synced at this moment and gets a
			// new entry when it is.
			if err := idx.Delete(k); err != nil {
				return fmt.Errorf("delete synced index entry: %w", err)
			}
			ok, err := pruneTicket(tx, fromU64(k[8:]), fromU64(k[:8]), s.now().UTC())
			if err != nil {
				return err
			}
			if ok {
				n++
			}
		}
		return nil
	})
	return n, err
}

func pruneTicket(tx *bolt.Tx, id, syncedAt int64, now time.Time) (bool, error) {
	t, err := getTicket(tx, id)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	f := t.Forwarding
	if f.State != model.ForwardSynced || f.SyncedAt == nil || f.SyncedAt.UnixNano() != syncedAt {
		return false, nil // stale entry: a later one (or none) stands for this ticket
	}
	key := append([]byte{keyTicket}, u64(id)...)
	if hasPrefix(tx.Bucket(bucketOutboxKeys), key) || hasPrefix(tx.Bucket(bucketDeadLetters), key) {
		return false, nil
	}
	// Synced says only that central has every record so far: the call
	// may still wait, ring or be talked on, and the routing indexes and
	// presences name its ticket and queue entry until it is over. Look
	// again one retention period later.
	if live, err := callInUse(tx, t); err != nil || live {
		if err != nil {
			return false, err
		}
		t.Forwarding.SyncedAt = &now
		if err := tx.Bucket(bucketSynced).Put(syncedKey(now, id), nil); err != nil {
			return false, fmt.Errorf("index synced ticket %d: %w", id, err)
		}
		return false, putTicket(tx, t)
	}
	if err := tx.Bucket(bucketTickets).Delete(u64(id)); err != nil {
		return false, fmt.Errorf("delete ticket %d: %w", id, err)
	}
	if err := addCount(tx, metaTickets, -1); err != nil {
		return false, err
	}
	ch := tx.Bucket(bucketChannels)
	if v := ch.Get([]byte(t.ChannelID)); v != nil && fromU64(v) == id {
		if err := ch.Delete([]byte(t.ChannelID)); err != nil {
			return false, fmt.Errorf("delete channel %q: %w", t.ChannelID, err)
		}
	}
	if t.QueueID != 0 {
		if err := tx.Bucket(bucketQueues).Delete(u64(t.QueueID)); err != nil {
			return false, fmt.Errorf("delete queue entry %d: %w", t.QueueID, err)
		}
	}
	return true, nil
}

// callInUse reports whether routing still refers to the ticket: its queue
// entry waits, rings or is being handled, or an agent's presence holds it
// (ringing, talking, after-call work).
func callInUse(tx *bolt.Tx, t *model.Ticket) (bool, error) {
	users := []int64{t.AgentID}
	if t.QueueID != 0 {
		q, err := getQueueEntry(tx, t.QueueID)
		if err != nil && !isNotFound(err) {
			return false, err
		}
		if q != nil {
			switch q.Status {
			case model.QueueWaitingForAgent, model.QueueAssigned:
				return true, nil
			case model.QueueCurrentlyProcessed:
				if t.CallEndedAt == nil {
					return true, nil
				}
			}
			users = append(users, q.AssignedUserID)
		}
	}
	for _, id := range users {
		if id == 0 {
			continue
		}
		p, err := getPresence(tx, id)
		if err != nil {
			return false, err
		}
		if p.CurrentTicketID == t.ID {
			return true, nil
		}
	}
	return false, nil
}
