package engine

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// encodeEntries is ids as bbolt's freelist page stores them.
func encodeEntries(ids []uint64) []byte {
	var e []byte
	for _, id := range ids {
		e = binary.LittleEndian.AppendUint64(e, id)
	}
	return e
}

// naiveWritten is writtenPages' rule over sets: pages free before (or past
// the old high water mark, below the new one) that are not free after.
func naiveWritten(prevFree []uint64, prevHWM uint64, free []uint64, hwm uint64) []uint64 {
	now := map[uint64]bool{}
	for _, id := range free {
		now[id] = true
	}
	var out []uint64
	for _, id := range prevFree {
		if id < prevHWM && !now[id] {
			out = append(out, id)
		}
	}
	for id := prevHWM; id < hwm; id++ {
		if !now[id] {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// TestWrittenPagesAgainstSets: the byte-run walk over raw freelists gives
// what the set rule gives, for freelists from empty to thousands of
// entries (so runs of equal bytes span many of commonPrefix's chunks),
// commits that take pages anywhere in the list (first, last, in runs),
// free pages between the ones they take, and grow the file.
func TestWrittenPagesAgainstSets(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 14))
	for round := range 3000 {
		prevHWM := uint64(10 + rng.IntN(6000))
		var prevFree, inUse []uint64
		density := rng.Float64()
		for id := uint64(2); id < prevHWM; id++ {
			if rng.Float64() < density {
				prevFree = append(prevFree, id)
			} else {
				inUse = append(inUse, id)
			}
		}
		hwm := prevHWM
		if rng.IntN(3) == 0 {
			hwm += uint64(rng.IntN(30))
		}
		// The commit takes some free pages, frees some pages in use, and
		// of the pages past the old mark leaves some free.
		var free []uint64
		for _, id := range prevFree {
			if rng.IntN(50) != 0 || round%7 == 0 {
				free = append(free, id)
			}
		}
		if round%5 == 0 && len(free) > 0 {
			free = free[1:] // took the first
		}
		if round%11 == 0 && len(free) > 0 {
			free = free[:len(free)-1] // took the last
		}
		for _, id := range inUse {
			if rng.IntN(80) == 0 {
				free = append(free, id)
			}
		}
		for id := prevHWM; id < hwm; id++ {
			if rng.IntN(4) == 0 {
				free = append(free, id)
			}
		}
		slices.Sort(free)
		want := naiveWritten(prevFree, prevHWM, free, hwm)
		got := writtenPages(encodeEntries(prevFree), prevHWM, encodeEntries(free), hwm, nil)
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("round %d (%d free before, %d after, hwm %d -> %d): got %v, want %v",
				round, len(prevFree), len(free), prevHWM, hwm, got, want)
		}
	}
}

// TestFreelistEntriesSorted: entries bbolt wrote out of order are sorted
// before the walk, which needs them sorted.
func TestFreelistEntriesSorted(t *testing.T) {
	e := encodeEntries([]uint64{9, 3, 7, 4})
	sortEntries(e)
	if got := fmt.Sprint(decodeEntries(e)); got != "[3 4 7 9]" {
		t.Fatalf("sorted %s", got)
	}
}

// BenchmarkWrittenPages: one commit's derivation over a freelist of n
// entries that took 8 pages and freed 8, against decoding both lists
// first (what the log did before: O(n) allocation and loop per commit).
func BenchmarkWrittenPages(b *testing.B) {
	for _, n := range []int{100, 10_000, 1_000_000} {
		prev := make([]uint64, n)
		for i := range prev {
			prev[i] = uint64(10 + 2*i)
		}
		hwm := uint64(10+2*n) + 10
		var cur []uint64
		for i, id := range prev {
			if i%(n/8+1) != 3 {
				cur = append(cur, id)
			}
			if i%(n/8+1) == 5 {
				cur = append(cur, id+1) // freed
			}
		}
		pe, ce := encodeEntries(prev), encodeEntries(cur)
		var dst []uint64
		b.Run(fmt.Sprintf("bytes/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				dst = writtenPages(pe, hwm, ce, hwm, dst)
			}
		})
		b.Run(fmt.Sprintf("decode/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				p, c := decodeEntries(pe), decodeEntries(ce)
				dst = naiveMerge(p, hwm, c, hwm, dst)
			}
		})
	}
}

// naiveMerge is the merge the log ran over decoded lists before.
func naiveMerge(prevFree []uint64, prevHWM uint64, free []uint64, hwm uint64, dst []uint64) []uint64 {
	dst = dst[:0]
	j := 0
	taken := func(id uint64) bool {
		for j < len(free) && free[j] < id {
			j++
		}
		return j >= len(free) || free[j] != id
	}
	for _, id := range prevFree {
		if id >= prevHWM {
			break
		}
		if taken(id) {
			dst = append(dst, id)
		}
	}
	for id := prevHWM; id < hwm; id++ {
		if taken(id) {
			dst = append(dst, id)
		}
	}
	return dst
}
