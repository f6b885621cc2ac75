package db

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The queue rank index (bucket queue_rank) answers getRouting's queue
// position without walking the waiting index: a poll of N waiting calls
// each once a second cost N² cursor steps a second before it.
//
// A call's position is the number of waiting calls with a smaller queue ID
// that compete with it (routing.Position): all of them for a call without
// a skill tag, and those with its tag or none for a call with one. So the
// index counts waiting calls per scope — all calls, and the calls of each
// tag (tag 0 included) — in a radix tree over the queue ID: a node at
// level k (1..rankTop) counts the scope's waiting calls whose ID shifted
// right by rankBits·k equals its prefix. The calls of one scope before x
// are then
//
//   - those in x's own block of 2^rankBits IDs, counted by walking the
//     waiting index from the block's start to x (at most 63 steps),
//   - per level k < rankTop, the nodes that share x's parent at level k+1
//     and come before x's ancestor (at most 63 per level),
//   - at rankTop, every node before x's ancestor: one per block of 2^18
//     IDs that holds a waiting call, so one or two in practice.
//
// Both scopes a call needs (all, or its tag plus tag 0) together cost
// about 2·rankTop seeks and a few hundred cursor steps at most, whatever
// the number of waiting calls. IndexWaiting and UnindexWaiting keep the
// counts in the transaction that changes the waiting index (2·rankTop
// read-modify-writes, on a handful of pages), so the index is a function
// of the waiting index: Open derives it again when it differs
// (derive.go), which covers a file from before the index and one an
// older binary (that does not know it) has written since. That is why it
// needs no schema version of its own.
const (
	rankBits = 6
	rankTop  = 3
	rankFan  = 1 << rankBits
)

// Scope kinds in a rank key: rankAll counts every waiting call, rankTag
// those of one tag.
const (
	rankAll byte = 0
	rankTag byte = 1
)

// rankKey is scope kind (1) | tag (8) | level (1) | prefix (8).
func rankKey(kind byte, tag int64, level int, prefix uint64) []byte {
	k := make([]byte, 18)
	rankKeyInto(k, kind, tag, level, prefix)
	return k
}

func rankKeyInto(k []byte, kind byte, tag int64, level int, prefix uint64) {
	k[0] = kind
	binary.BigEndian.PutUint64(k[1:], uint64(tag))
	k[9] = byte(level)
	binary.BigEndian.PutUint64(k[10:], prefix)
}

// rankAdd adds d (±1) to the counts of a waiting call with this ID and tag.
func rankAdd(tx *bolt.Tx, id, tag int64, d int64) error {
	b := tx.Bucket(bucketRank)
	for _, s := range [2]struct {
		kind byte
		tag  int64
	}{{rankAll, 0}, {rankTag, tag}} {
		for level := 1; level <= rankTop; level++ {
			k := rankKey(s.kind, s.tag, level, uint64(id)>>(rankBits*level))
			n := int64(0)
			if v := b.Get(k); v != nil {
				n = fromU64(v)
			}
			n += d
			var err error
			if n <= 0 {
				// An empty node is removed, so scans see only blocks that
				// hold waiting calls.
				err = b.Delete(k)
			} else {
				err = b.Put(k, u64(n))
			}
			if err != nil {
				return fmt.Errorf("queue rank of %d: %w", id, err)
			}
		}
	}
	return nil
}

// rankBefore counts the scope's waiting calls in other blocks than id's
// with a smaller ID (the block itself is walked by the caller).
func rankBefore(c *bolt.Cursor, kind byte, tag, id int64) int {
	var lo, hi [18]byte
	n := 0
	for level := 1; level <= rankTop; level++ {
		anc := uint64(id) >> (rankBits * level)
		start := uint64(0)
		if level < rankTop {
			start = anc &^ (rankFan - 1)
		}
		if start == anc {
			continue
		}
		rankKeyInto(lo[:], kind, tag, level, start)
		rankKeyInto(hi[:], kind, tag, level, anc)
		for k, v := c.Seek(lo[:]); k != nil && bytes.Compare(k, hi[:]) < 0; k, v = c.Next() {
			n += int(fromU64(v))
		}
	}
	return n
}

// ranksOf computes the rank index from the waiting index.
func ranksOf(tx *bolt.Tx) (map[string]int64, error) {
	want := map[string]int64{}
	err := tx.Bucket(bucketWaiting).ForEach(func(k, v []byte) error {
		if len(k) != 8 || len(v) < 8 {
			return fmt.Errorf("derive queue rank: waiting entry %x malformed", k)
		}
		id, tag := fromU64(k), fromU64(v)
		for level := 1; level <= rankTop; level++ {
			p := uint64(id) >> (rankBits * level)
			want[string(rankKey(rankAll, 0, level, p))]++
			want[string(rankKey(rankTag, tag, level, p))]++
		}
		return nil
	})
	return want, err
}

// rankTotal is the number of waiting calls: the sum of the top level of
// the all-calls scope, one node per block of IDs that holds one.
func rankTotal(tx *bolt.Tx) int {
	var lo, hi [18]byte
	rankKeyInto(lo[:], rankAll, 0, rankTop, 0)
	rankKeyInto(hi[:], rankAll, 0, rankTop+1, 0)
	n := 0
	c := tx.Bucket(bucketRank).Cursor()
	for k, v := c.Seek(lo[:]); k != nil && bytes.Compare(k, hi[:]) < 0; k, v = c.Next() {
		n += int(fromU64(v))
	}
	return n
}

// rankAny reports whether a call of exactly this tag waits: whether the
// tag's scope has a node at the top level.
func rankAny(tx *bolt.Tx, tag int64) bool {
	var lo [18]byte
	rankKeyInto(lo[:], rankTag, tag, rankTop, 0)
	k, _ := tx.Bucket(bucketRank).Cursor().Seek(lo[:])
	return k != nil && bytes.Equal(k[:10], lo[:10])
}
