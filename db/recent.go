package db

import (
	"hash/maphash"
	"sync"
)

// recentGeneration is how many channelIds one generation of recentChannels
// holds: with two generations per shard the store remembers about the
// last 16,384 to 32,768 calls it stored (at least 8,192), 8 to 32 seconds
// at 1,000 calls/s, longer than a PBX waits before it re-sends a call.
const recentGeneration = 16384

// recentShards spread the hint over locks of its own: the calls of one
// commit are answered at once and all record their channelId together.
const recentShards = 16

// recentChannels remembers hashes of the channelIds this process stored
// recently, so CreateCall reads the channelId index before the group commit
// only for a channelId that may be a repeat. It is a hint, never the
// answer: a hit (a repeat, or a hash collision) reads the index; a miss
// goes to the group commit, whose transaction checks the index again
// (callflow.Machine.CreateCall), so a repeat this process never saw or has
// forgotten is still answered from the store. What it spares a new call is
// a read transaction, which contended with the writer on bbolt's meta lock
// (BENCHMARKS.md, "Where the time goes").
type recentChannels struct {
	seed   maphash.Seed
	shards [recentShards]recentShard
}

// recentShard is two generations of hashes: when cur is full it becomes
// prev and the old prev is dropped.
type recentShard struct {
	mu        sync.Mutex
	cur, prev map[uint64]struct{}
}

func newRecentChannels() *recentChannels {
	r := &recentChannels{seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].cur = make(map[uint64]struct{}, recentGeneration/recentShards)
	}
	return r
}

func (r *recentChannels) shard(channelID string) (*recentShard, uint64) {
	h := maphash.String(r.seed, channelID)
	return &r.shards[h%recentShards], h
}

// add records a channelId the store now holds.
func (r *recentChannels) add(channelID string) {
	sh, h := r.shard(channelID)
	sh.mu.Lock()
	if len(sh.cur) >= recentGeneration/recentShards {
		// Reusing the oldest generation's map keeps this allocation-free.
		old := sh.prev
		sh.prev, sh.cur = sh.cur, old
		if sh.cur == nil {
			sh.cur = make(map[uint64]struct{}, recentGeneration/recentShards)
		}
		clear(sh.cur)
	}
	sh.cur[h] = struct{}{}
	sh.mu.Unlock()
}

// mayHave tells whether channelID may have been stored by this process
// lately; false means only that the index must be asked in the commit.
func (r *recentChannels) mayHave(channelID string) bool {
	sh, h := r.shard(channelID)
	sh.mu.Lock()
	_, ok := sh.cur[h]
	if !ok {
		_, ok = sh.prev[h]
	}
	sh.mu.Unlock()
	return ok
}
