package faultfs

import (
	"fmt"
	"io"
	"os"
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

// restore puts the synced content and size back.
func (u *undo) restore() error {
	for p, buf := range u.pages {
		if _, err := u.f.WriteAt(buf, p*pageSize); err != nil {
			return fmt.Errorf("restore page %d: %w", p, err)
		}
	}
	if err := u.f.Truncate(u.size); err != nil {
		return fmt.Errorf("restore size %d: %w", u.size, err)
	}
	return nil
}

func (u *undo) close() { _ = u.f.Close() }
