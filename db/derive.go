package db

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/model"
	"github.com/enneo-edge/enneo-edge/routing"
)

// The derived indexes (queue_rank, queue_waiting_since, agents_busy,
// agents_by_skill) are
// functions of the records and of the waiting index, kept in the
// transaction that changes those. Open computes each one again and
// rewrites it when it differs: a file from before an index exists, and a
// file an older binary (which ignores the buckets it does not know) has
// written since, open with correct indexes. So none of them needs a
// schema version: an older binary may run on the file, and the next open
// of this one repairs what it left behind. Each costs one walk of the
// waiting index or the presence bucket at open (a few thousand keys).

// deriveIndexes runs in Open's first transaction.
func deriveIndexes(tx *bolt.Tx) error {
	ranks, err := ranksOf(tx)
	if err != nil {
		return err
	}
	want := make(map[string][]byte, len(ranks))
	for k, n := range ranks {
		want[k] = u64(n)
	}
	if err := deriveIndex(tx, bucketRank, want); err != nil {
		return err
	}
	since, err := waitingSinceOf(tx)
	if err != nil {
		return err
	}
	if err := deriveIndex(tx, bucketWaitingSince, since); err != nil {
		return err
	}
	busy, err := busyOf(tx)
	if err != nil {
		return err
	}
	if err := deriveIndex(tx, bucketAgentsBusy, busy); err != nil {
		return err
	}
	return deriveIndex(tx, bucketOnlineBySkill, bySkillOf(tx))
}

func skillKey(tag, userID int64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(tag))
	binary.BigEndian.PutUint64(k[8:], uint64(userID))
	return k
}

// bySkillOf computes the skill index from the online index.
func bySkillOf(tx *bolt.Tx) map[string][]byte {
	want := map[string][]byte{}
	_ = tx.Bucket(bucketAgentsOnline).ForEach(func(k, v []byte) error {
		for _, tag := range skillsOf(v) {
			want[string(skillKey(tag, fromU64(k)))] = []byte{}
		}
		return nil
	})
	return want
}

var errIndexDiffers = errors.New("index differs")

// deriveIndex makes bucket hold exactly want, rewriting it only when it
// differs (an unchanged file is not written at open).
func deriveIndex(tx *bolt.Tx, bucket []byte, want map[string][]byte) error {
	b := tx.Bucket(bucket)
	same := b.Stats().KeyN == len(want) && b.ForEach(func(k, v []byte) error {
		if w, ok := want[string(k)]; !ok || !bytes.Equal(w, v) {
			return errIndexDiffers
		}
		return nil
	}) == nil
	if same {
		return nil
	}
	if err := tx.DeleteBucket(bucket); err != nil {
		return fmt.Errorf("derive %s: %w", bucket, err)
	}
	b, err := tx.CreateBucket(bucket)
	if err != nil {
		return fmt.Errorf("derive %s: %w", bucket, err)
	}
	for k, v := range want {
		if err := b.Put([]byte(k), v); err != nil {
			return fmt.Errorf("derive %s: %w", bucket, err)
		}
	}
	return nil
}

// The waiting-since index (queue_waiting_since: createdAt, queue ID ->
// nil) orders the waiting calls by arrival time, so the maximum-wait
// timer reads only the calls whose wait is over instead of every waiting
// call on every tick.
func waitingSinceKey(createdAtNano, id int64) []byte {
	k := make([]byte, 16)
	// The sign bit flipped: keys sort as signed times.
	binary.BigEndian.PutUint64(k, uint64(createdAtNano)^(1<<63))
	binary.BigEndian.PutUint64(k[8:], uint64(id))
	return k
}

func waitingSinceOf(tx *bolt.Tx) (map[string][]byte, error) {
	want := map[string][]byte{}
	err := tx.Bucket(bucketWaiting).ForEach(func(k, v []byte) error {
		if len(k) != 8 || len(v) != 16 {
			return fmt.Errorf("derive %s: waiting entry %x malformed", bucketWaitingSince, k)
		}
		want[string(waitingSinceKey(fromU64(v[8:]), fromU64(k)))] = []byte{}
		return nil
	})
	return want, err
}

// The busy index (agents_busy: user ID -> nil) holds the agents whose
// presence runs a timer or holds a call: beingConnected, acw, interacting,
// notResponding. The timers and cleanState read only these, not every
// agent the edge has seen.
func busyStatus(status string) bool {
	switch status {
	case model.PresenceBeingConnected, model.PresenceACW, model.PresenceInteracting, model.PresenceNotResponding:
		return true
	}
	return false
}

func busyOf(tx *bolt.Tx) (map[string][]byte, error) {
	want := map[string][]byte{}
	err := eachPresence(tx, func(p *model.Presence) error {
		if busyStatus(p.CallRoutingStatus) {
			want[string(u64(p.UserID))] = []byte{}
		}
		return nil
	})
	return want, err
}

// waitingCreatedBy lists the waiting calls that arrived at or before
// cutoff, in queue ID order (the order of the waiting index).
func waitingCreatedBy(tx *bolt.Tx, cutoff time.Time) []routing.Entry {
	var out []routing.Entry
	stop := waitingSinceKey(cutoff.UnixNano(), -1) // ID all ones: after every ID at cutoff
	w := tx.Bucket(bucketWaiting)
	c := tx.Bucket(bucketWaitingSince).Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k, stop) <= 0; k, _ = c.Next() {
		e := routing.Entry{ID: fromU64(k[8:]), CreatedAt: time.Unix(0, int64(binary.BigEndian.Uint64(k)^(1<<63))).UTC()}
		if v := w.Get(k[8:]); len(v) >= 8 {
			e.Tag = fromU64(v)
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b routing.Entry) int { return cmp.Compare(uint64(a.ID), uint64(b.ID)) })
	return out
}
