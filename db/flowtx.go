package db

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/callflow"
	"github.com/enneo-edge/enneo-edge/model"
	"github.com/enneo-edge/enneo-edge/routing"
)

// schemaTx is the schema's side of callflow.Tx: the typed accessors of one
// bbolt transaction. It is one pointer wide, so handing it to a use case
// as the interface allocates nothing.
type schemaTx struct{ tx *bolt.Tx }

var _ callflow.Tx = schemaTx{}

// apply runs one use case in one group-commit transaction, at the store's
// clock.
func (s *Store) apply(ctx context.Context, fn func(tx callflow.Tx, now time.Time) error) error {
	return s.write(ctx, func(tx *bolt.Tx) error { return fn(schemaTx{tx}, s.now()) })
}

// read runs fn on committed state through the same accessors.
func (s *Store) read(fn func(tx callflow.Tx) error) error {
	return s.view(func(tx *bolt.Tx) error { return fn(schemaTx{tx}) })
}

func (x schemaTx) Ticket(id int64) (*model.Ticket, error) { return getTicket(x.tx, id) }
func (x schemaTx) PutTicket(t *model.Ticket) error        { return putTicket(x.tx, t) }

func (x schemaTx) NextTicketSeq() (uint64, error) {
	seq, err := x.tx.Bucket(bucketTickets).NextSequence()
	if err != nil {
		return 0, fmt.Errorf("next ticket id: %w", err)
	}
	return seq, addCount(x.tx, metaTickets, 1)
}

func (x schemaTx) TicketByChannel(channelID string) (int64, bool) {
	v := x.tx.Bucket(bucketChannels).Get([]byte(channelID))
	if v == nil {
		return 0, false
	}
	return fromU64(v), true
}

func (x schemaTx) IndexChannel(channelID string, ticketID int64) error {
	if err := x.tx.Bucket(bucketChannels).Put([]byte(channelID), u64(ticketID)); err != nil {
		return fmt.Errorf("index channel %q: %w", channelID, err)
	}
	return nil
}

func (x schemaTx) QueueEntry(id int64) (*model.QueueEntry, error) { return getQueueEntry(x.tx, id) }
func (x schemaTx) PutQueueEntry(q model.QueueEntry) error {
	return writeQueueEntry(x.tx.Bucket(bucketQueues), &q)
}

func (x schemaTx) NextQueueSeq() (uint64, error) {
	seq, err := x.tx.Bucket(bucketQueues).NextSequence()
	if err != nil {
		return 0, fmt.Errorf("next queue id: %w", err)
	}
	return seq, nil
}

func (x schemaTx) Waiting() []routing.Entry { return waitingEntries(x.tx) }

func (x schemaTx) AnyWaiting(tag int64) bool { return rankAny(x.tx, tag) }

func (x schemaTx) WaitingCreatedBy(cutoff time.Time) []routing.Entry {
	return waitingCreatedBy(x.tx, cutoff)
}

// IndexWaiting and UnindexWaiting keep the indexes derived from the
// waiting index in the same transaction: the queue rank (rank.go) and
// the waiting-since order (derive.go). Re-indexing an entry first takes
// it out, so its counts follow a changed tag.
func (x schemaTx) IndexWaiting(id, tag int64, createdAt time.Time) error {
	if err := x.UnindexWaiting(id); err != nil {
		return err
	}
	if err := rankAdd(x.tx, id, tag, 1); err != nil {
		return err
	}
	if err := x.tx.Bucket(bucketWaitingSince).Put(waitingSinceKey(createdAt.UnixNano(), id), []byte{}); err != nil {
		return fmt.Errorf("index queue entry %d: %w", id, err)
	}
	if err := x.tx.Bucket(bucketWaiting).Put(u64(id), waitingValue(tag, createdAt)); err != nil {
		return fmt.Errorf("index queue entry %d: %w", id, err)
	}
	return nil
}

func (x schemaTx) UnindexWaiting(id int64) error {
	b := x.tx.Bucket(bucketWaiting)
	old := b.Get(u64(id))
	if old == nil {
		return nil
	}
	if err := rankAdd(x.tx, id, fromU64(old), -1); err != nil {
		return err
	}
	if err := x.tx.Bucket(bucketWaitingSince).Delete(waitingSinceKey(fromU64(old[8:]), id)); err != nil {
		return fmt.Errorf("unindex queue entry %d: %w", id, err)
	}
	if err := b.Delete(u64(id)); err != nil {
		return fmt.Errorf("unindex queue entry %d: %w", id, err)
	}
	return nil
}

func (x schemaTx) Presence(userID int64) (*model.Presence, error) { return getPresence(x.tx, userID) }
func (x schemaTx) PutPresence(p *model.Presence) error            { return putPresence(x.tx, p) }
func (x schemaTx) EachBusyPresence(fn func(p *model.Presence) error) error {
	return eachBusyPresence(x.tx, fn)
}

func (x schemaTx) AnyIdle() bool {
	k, _ := x.tx.Bucket(bucketAgentsIdle).Cursor().First()
	return k != nil
}

func (x schemaTx) Idle() []routing.Agent {
	online := x.tx.Bucket(bucketAgentsOnline)
	var agents []routing.Agent
	c := x.tx.Bucket(bucketAgentsIdle).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		id := int64(binary.BigEndian.Uint64(k[8:]))
		agents = append(agents, routing.Agent{ID: id, Status: model.PresenceIdle,
			Since: time.Unix(0, int64(binary.BigEndian.Uint64(k))), Skills: skillsOf(online.Get(u64(id)))})
	}
	return agents
}

func (x schemaTx) IndexIdle(since time.Time, userID int64) error {
	if err := x.tx.Bucket(bucketAgentsIdle).Put(idleKey(since, userID), nil); err != nil {
		return fmt.Errorf("index idle agent %d: %w", userID, err)
	}
	return nil
}

func (x schemaTx) UnindexIdle(since time.Time, userID int64) error {
	if err := x.tx.Bucket(bucketAgentsIdle).Delete(idleKey(since, userID)); err != nil {
		return fmt.Errorf("unindex idle agent %d: %w", userID, err)
	}
	return nil
}

func (x schemaTx) Online(userID int64) bool {
	return x.tx.Bucket(bucketAgentsOnline).Get(u64(userID)) != nil
}

func (x schemaTx) AnyOnline(tag int64) bool {
	if tag == 0 {
		k, _ := x.tx.Bucket(bucketAgentsOnline).Cursor().First()
		return k != nil
	}
	prefix := u64(tag)
	k, _ := x.tx.Bucket(bucketOnlineBySkill).Cursor().Seek(prefix)
	return k != nil && bytes.HasPrefix(k, prefix)
}

// IndexOnline and UnindexOnline keep the skill index (agents_by_skill:
// tag, user ID -> nil; derive.go) in step with the online index, so
// getRouting lists the agents of a skill and admit finds one without
// walking every agent online.
func (x schemaTx) IndexOnline(userID int64, skills []int64) error {
	if err := x.UnindexOnline(userID); err != nil {
		return err
	}
	v := make([]byte, 8*len(skills))
	by := x.tx.Bucket(bucketOnlineBySkill)
	for i, id := range skills {
		binary.BigEndian.PutUint64(v[8*i:], uint64(id))
		if err := by.Put(skillKey(id, userID), []byte{}); err != nil {
			return fmt.Errorf("index online agent %d: %w", userID, err)
		}
	}
	if err := x.tx.Bucket(bucketAgentsOnline).Put(u64(userID), v); err != nil {
		return fmt.Errorf("index online agent %d: %w", userID, err)
	}
	return nil
}

func (x schemaTx) UnindexOnline(userID int64) error {
	b := x.tx.Bucket(bucketAgentsOnline)
	old := b.Get(u64(userID))
	if old == nil {
		return nil
	}
	by := x.tx.Bucket(bucketOnlineBySkill)
	for _, tag := range skillsOf(old) {
		if err := by.Delete(skillKey(tag, userID)); err != nil {
			return fmt.Errorf("unindex online agent %d: %w", userID, err)
		}
	}
	if err := b.Delete(u64(userID)); err != nil {
		return fmt.Errorf("unindex online agent %d: %w", userID, err)
	}
	return nil
}

func (x schemaTx) Agent(id int64) (*model.Agent, error) { return getAgent(x.tx, id) }
func (x schemaTx) PutAgent(a *model.Agent) error {
	return putJSON(x.tx.Bucket(bucketAgents), u64(a.ID), a, fmt.Sprintf("agent %d", a.ID))
}

func (x schemaTx) EachAgent(fn func(a *model.Agent) error) error {
	c := x.tx.Bucket(bucketAgents).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		a := new(model.Agent)
		if err := json.Unmarshal(v, a); err != nil {
			return fmt.Errorf("decode agent %d: %w", fromU64(k), err)
		}
		if err := fn(a); err != nil {
			return err
		}
	}
	return nil
}

func (x schemaTx) DeleteAgent(id int64) error {
	if err := x.tx.Bucket(bucketAgents).Delete(u64(id)); err != nil {
		return fmt.Errorf("delete agent %d: %w", id, err)
	}
	return nil
}

func (x schemaTx) AnyLine() bool                      { return hasPrefix(x.tx.Bucket(bucketLines), nil) }
func (x schemaTx) Line(id int64) (*model.Line, error) { return lineOf(x.tx, id) }

func (x schemaTx) ReplaceLines(lines []model.Line) error {
	b := x.tx.Bucket(bucketLines)
	if err := clearBucket(b); err != nil {
		return err
	}
	for _, l := range lines {
		if err := putJSON(b, u64(l.ID), l, fmt.Sprintf("line %d", l.ID)); err != nil {
			return err
		}
	}
	return nil
}

func (x schemaTx) PutDirectoryState(st callflow.DirectoryState) error {
	return putJSON(x.tx.Bucket(bucketMeta), metaDirectory, st, "directory state")
}

func (x schemaTx) HandleTimes() []time.Duration { return handleTimes(x.tx) }

func handleTimes(tx *bolt.Tx) []time.Duration {
	v := tx.Bucket(bucketMeta).Get(metaHandleTimes)
	out := make([]time.Duration, len(v)/8)
	for i := range out {
		out[i] = time.Duration(binary.BigEndian.Uint64(v[8*i:]))
	}
	return out
}

func (x schemaTx) AppendHandleTime(d time.Duration, max int) error {
	m := x.tx.Bucket(bucketMeta)
	old := m.Get(metaHandleTimes)
	if len(old) >= 8*max {
		old = old[len(old)-8*(max-1):]
	}
	v := make([]byte, len(old)+8)
	copy(v, old)
	binary.BigEndian.PutUint64(v[len(old):], uint64(d))
	return m.Put(metaHandleTimes, v)
}

func (x schemaTx) Customer(id string) (*model.Customer, error) { return getCustomer(x.tx, id) }

func (x schemaTx) CustomerByContract(contractID string) string {
	return string(x.tx.Bucket(bucketCustomersByContr).Get([]byte(contractID)))
}

func (x schemaTx) CustomerByPhone(e164 string) string {
	prefix := append([]byte(e164), 0)
	k, _ := x.tx.Bucket(bucketCustomersByPhone).Cursor().Seek(prefix)
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return ""
	}
	return string(k[len(prefix):])
}

func (x schemaTx) AppendOutbox(kind string, ticketID, userID int64, body []byte, at time.Time) error {
	return appendOutbox(x.tx, OutboxRecord{Kind: kind, TicketID: ticketID, UserID: userID, Body: body, CreatedAt: at})
}
