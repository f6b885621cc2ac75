package db

import (
	"bytes"
	"context"
	"fmt"
	"time"

	json "github.com/goccy/go-json"
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
	if s.repl != nil {
		err := s.submit(ctx, opPruneSynced, pruneArgs{Cutoff: cutoff, Limit: limit}, &n)
		return n, err
	}
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
	return true, deleteTicket(tx, t)
}

// deleteTicket removes a ticket with its channelId index entry and queue
// entry.
func deleteTicket(tx *bolt.Tx, t *model.Ticket) error {
	if err := tx.Bucket(bucketTickets).Delete(u64(t.ID)); err != nil {
		return fmt.Errorf("delete ticket %d: %w", t.ID, err)
	}
	if err := addCount(tx, metaTickets, -1); err != nil {
		return err
	}
	ch := tx.Bucket(bucketChannels)
	if v := ch.Get([]byte(t.ChannelID)); v != nil && fromU64(v) == t.ID {
		if err := ch.Delete([]byte(t.ChannelID)); err != nil {
			return fmt.Errorf("delete channel %q: %w", t.ChannelID, err)
		}
	}
	if t.QueueID != 0 {
		if err := tx.Bucket(bucketQueues).Delete(u64(t.QueueID)); err != nil {
			return fmt.Errorf("delete queue entry %d: %w", t.QueueID, err)
		}
	}
	return nil
}

// PruneAirGapped is retention for a site without upstream, where the
// outbox is not a backlog but the only record and nothing ever syncs. It
// walks the outbox from its oldest record and deletes, in one
// transaction, up to limit tickets whose last record is older than cutoff
// (with those records, their channelId index entry and queue entry) and
// the routingStatus records older than cutoff. Calls still in use are
// kept. It returns the tickets and records deleted; fewer than limit
// tickets means nothing older is left to take now.
func (s *Store) PruneAirGapped(ctx context.Context, cutoff time.Time, limit int) (tickets, records int, err error) {
	if s.repl != nil {
		var r pruneResult
		err := s.submit(ctx, opPruneAirGapped, pruneArgs{Cutoff: cutoff, Limit: limit}, &r)
		return r.Tickets, r.Records, err
	}
	err = s.write(ctx, func(tx *bolt.Tx) error {
		tickets, records = 0, 0
		var old []OutboxRecord
		c := tx.Bucket(bucketOutbox).Cursor()
		// A record names its ticket; a ticket has a few records. Reading
		// 8 per ticket wanted bounds the transaction.
		for k, v := c.First(); k != nil && len(old) < 8*limit; k, v = c.Next() {
			var r OutboxRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode outbox record %d: %w", fromU64(k), err)
			}
			if !r.CreatedAt.Before(cutoff) {
				break
			}
			old = append(old, r)
		}
		seen := map[int64]bool{}
		for _, r := range old {
			if r.Kind == KindRoutingStatus {
				if _, ok, err := takeOutbox(tx, r.Seq); err != nil {
					return err
				} else if ok {
					records++
				}
				continue
			}
			id := RecordTicket(r)
			if seen[id] || tickets >= limit {
				continue
			}
			seen[id] = true
			n, ok, err := pruneAirGappedTicket(tx, id, cutoff)
			if err != nil {
				return err
			}
			if ok {
				tickets++
				records += n
			}
		}
		return nil
	})
	return tickets, records, err
}

// pruneAirGappedTicket deletes ticket id and its records when its last
// record is older than cutoff and no call uses it.
func pruneAirGappedTicket(tx *bolt.Tx, id int64, cutoff time.Time) (int, bool, error) {
	prefix := append([]byte{keyTicket}, u64(id)...)
	var seqs []uint64
	c := tx.Bucket(bucketOutboxKeys).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		seqs = append(seqs, uint64(fromU64(k[len(k)-8:])))
	}
	if len(seqs) == 0 {
		return 0, false, nil
	}
	var last OutboxRecord
	if v := tx.Bucket(bucketOutbox).Get(u64(int64(seqs[len(seqs)-1]))); v != nil {
		if err := json.Unmarshal(v, &last); err != nil {
			return 0, false, fmt.Errorf("decode outbox record %d: %w", seqs[len(seqs)-1], err)
		}
		if !last.CreatedAt.Before(cutoff) {
			return 0, false, nil // changed since: kept until its last change is old
		}
	}
	t, err := getTicket(tx, id)
	if err != nil && !isNotFound(err) {
		return 0, false, err
	}
	if t != nil {
		if live, err := callInUse(tx, t); err != nil || live {
			return 0, false, err
		}
	}
	for _, seq := range seqs {
		if _, _, err := takeOutbox(tx, seq); err != nil {
			return 0, false, err
		}
	}
	if t != nil {
		if err := deleteTicket(tx, t); err != nil {
			return 0, false, err
		}
	}
	return len(seqs), true, nil
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
