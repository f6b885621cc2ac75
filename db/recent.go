package db

import (
	"hash/maphash"
	"sync"
)

// recentGeneration is how many channelIds one generation of recentChannels
// holds: with two generations the store remembers the last 16,384 to
// 32,768 calls it stored, 16 to 32 seconds at 1,000 calls/s, longer than a
// PBX waits before it re-sends a call.
const recentGeneration = 16384

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
	seed      maphash.Seed
	mu        sync.Mutex
	cur, prev map[uint64]struct{}
}

func newRecentChannels() *recentChannels {
	return &recentChannels{seed: maphash.MakeSeed(), cur: make(map[uint64]struct{}, recentGeneration)}
}

// add records a channelId the store now holds.
func (r *recentChannels) add(channelID string) {
	h := maphash.String(r.seed, channelID)
	r.mu.Lock()
	if len(r.cur) >= recentGeneration {
		// Reusing the oldest generation's map keeps this allocation-free.
		old := r.prev
		r.prev, r.cur = r.cur, old
		if r.cur == nil {
			r.cur = make(map[uint64]struct{}, recentGeneration)
		}
		clear(r.cur)
	}
	r.cur[h] = struct{}{}
	r.mu.Unlock()
}

// mayHave tells whether channelID may have been stored by this process
// lately; false means only that the index must be asked in the commit.
func (r *recentChannels) mayHave(channelID string) bool {
	h := maphash.String(r.seed, channelID)
	r.mu.Lock()
	_, ok := r.cur[h]
	if !ok {
		_, ok = r.prev[h]
	}
	r.mu.Unlock()
	return ok
}
