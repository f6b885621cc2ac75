package db

import (
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/routing"
)

// The routing indexes: queue_waiting (queue ID -> primary tag, createdAt),
// agents_idle (idle since, user ID -> nil) and agents_online (user ID ->
// skill tag IDs). callflow keeps them in step with the records.

func waitingValue(tag int64, createdAt time.Time) []byte {
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, uint64(tag))
	binary.BigEndian.PutUint64(v[8:], uint64(createdAt.UnixNano()))
	return v
}

// waitingEntries reads the waiting index in arrival order.
func waitingEntries(tx *bolt.Tx) []routing.Entry {
	var out []routing.Entry
	c := tx.Bucket(bucketWaiting).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		out = append(out, routing.Entry{ID: fromU64(k), Tag: int64(binary.BigEndian.Uint64(v)),
			CreatedAt: time.Unix(0, int64(binary.BigEndian.Uint64(v[8:]))).UTC()})
	}
	return out
}

func skillsOf(v []byte) []int64 {
	out := make([]int64, len(v)/8)
	for i := range out {
		out[i] = int64(binary.BigEndian.Uint64(v[8*i:]))
	}
	return out
}

func idleKey(since time.Time, userID int64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(since.UnixNano()))
	binary.BigEndian.PutUint64(k[8:], uint64(userID))
	return k
}
