package faultfs

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
)

// pageSize is the granularity of saved content.
const pageSize = 4096

// undo is what one inode held at its last sync: its size and the old
// content of every page changed since, below that size. Bytes at or past
// the synced size need no copy: restore truncates them away.
type undo struct {
	f     *os.File
	size  int64
	pages map[int64][]byte
}

// save keeps the synced content of [off, end) before it is overwritten.
func (u *undo) save(off, end int64) error {
	end = min(end, u.size)
	if off < 0 {
		off = 0
	}
	for p := off / pageSize; p*pageSize < end; p++ {
		if _, ok := u.pages[p]; ok {
			continue
		}
		buf := make([]byte, min(pageSize, u.size-p*pageSize))
		n, err := u.f.ReadAt(buf, p*pageSize)
		if err != nil && err != io.EOF {
			return fmt.Errorf("save page %d: %w", p, err)
		}
		// Short: the file is shorter now than when synced (an
		// earlier truncate saved that page already, or it was a hole
		// that reads as zeros).
		clear(buf[n:])
		u.pages[p] = buf
	}
	return nil
}

// restore puts the synced content and size back and returns how many
// pages it wrote. With rng, each file keeps its current size or gets the
// synced one, and each page below the current size keeps its new content
// or gets the synced one (pages the file no longer reaches in full always
// come back when the synced size does).
func (u *undo) restore(rng *rand.Rand) (int, error) {
	st, err := u.f.Stat()
	if err != nil {
		return 0, err
	}
	cur, size := st.Size(), u.size
	if rng != nil && rng.IntN(2) == 0 {
		size = cur
	}
	// Sorted, so that a seed gives the same result.
	pages := make([]int64, 0, len(u.pages))
	for p := range u.pages {
		pages = append(pages, p)
	}
	slices.Sort(pages)
	n := 0
	for _, p := range pages {
		off := p * pageSize
		if off >= size {
			continue
		}
		if rng != nil && off+int64(len(u.pages[p])) <= cur && rng.IntN(2) == 0 {
			continue // the new content reached the disk
		}
		buf := u.pages[p][:min(int64(len(u.pages[p])), size-off)]
		if _, err := u.f.WriteAt(buf, off); err != nil {
			return n, fmt.Errorf("restore page %d: %w", p, err)
		}
		n++
	}
	if err := u.f.Truncate(size); err != nil {
		return n, fmt.Errorf("restore size %d: %w", size, err)
	}
	return n, nil
}

func (u *undo) close() { _ = u.f.Close() }
