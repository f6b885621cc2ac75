package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"slices"
)

// The WAL reads three things of bbolt's file format (stable since bbolt
// 1.3; see go.etcd.io/bbolt/internal/common): the page header, the meta
// page and the freelist page. It never interprets branch or leaf pages: it
// copies their bytes (less any zero tail, restored on replay).
const (
	pageHeaderSize   = 16 // id u64, flags u16, count u16, overflow u32
	metaOffset       = pageHeaderSize
	metaChecksumAt   = 56 // bytes of the meta struct the checksum covers
	boltMagic        = 0xED0CDAED
	boltVersion      = 2 // the meta page's format version this file describes
	freelistPageFlag = 0x10
	noFreelist       = ^uint64(0)
)

// boltMeta is what the WAL needs from a meta page.
type boltMeta struct {
	version  uint32
	pageSize uint32
	freelist uint64 // page ID of the freelist
	hwm      uint64 // high water mark: first page ID past the file's pages
	txid     uint64
}

// parseMeta reads a meta page image and checks it as bbolt does (magic and
// checksum).
func parseMeta(p []byte) (boltMeta, error) {
	if len(p) < metaOffset+metaChecksumAt+8 {
		return boltMeta{}, errors.New("meta page too short")
	}
	m := p[metaOffset:]
	if binary.LittleEndian.Uint32(m[0:]) != boltMagic {
		return boltMeta{}, errors.New("meta page: bad magic")
	}
	h := fnv.New64a()
	_, _ = h.Write(m[:metaChecksumAt])
	if h.Sum64() != binary.LittleEndian.Uint64(m[metaChecksumAt:]) {
		return boltMeta{}, errors.New("meta page: bad checksum")
	}
	return boltMeta{
		version:  binary.LittleEndian.Uint32(m[4:]),
		pageSize: binary.LittleEndian.Uint32(m[8:]),
		freelist: binary.LittleEndian.Uint64(m[32:]),
		hwm:      binary.LittleEndian.Uint64(m[40:]),
		txid:     binary.LittleEndian.Uint64(m[48:]),
	}, nil
}

// checkFormat refuses a file whose valid meta pages carry another format
// version than the one this file's offsets describe: a bbolt that changed
// its layout could open it, but the log would copy and replay the wrong
// bytes. Torn meta pages (bad checksum) are recovery's business. It reads
// the two meta pages only, at open and before a replay, never per commit.
func checkFormat(f *os.File) error {
	_, metas := fileState(f)
	for _, m := range metas {
		if m.version != boltVersion {
			return fmt.Errorf("%w: %s is bbolt format version %d, this build knows version %d", ErrFormat, f.Name(), m.version, boltVersion)
		}
	}
	return nil
}

// readPages reads n pages starting at page id into buf (grown as needed).
func readPages(f *os.File, pageSize int, id uint64, n int, buf []byte) ([]byte, error) {
	size := n * pageSize
	buf = slices.Grow(buf[:0], size)[:size]
	if _, err := f.ReadAt(buf, int64(id)*int64(pageSize)); err != nil {
		return nil, fmt.Errorf("read page %d (+%d): %w", id, n-1, err)
	}
	return buf, nil
}

// freelistEntries returns the raw entries of bbolt's freelist page (free
// and pending page IDs, each a little-endian uint64), read into buf. bbolt
// writes them sorted (freelist Copyall merges its free and pending lists);
// sorted reports whether they are.
func freelistEntries(f *os.File, pageSize int, id uint64, buf []byte) (entries, out []byte, sorted bool, err error) {
	if id == noFreelist {
		return nil, buf, false, errors.New("the freelist is not stored in the file (NoFreelistSync); the WAL needs it")
	}
	buf, err = readPages(f, pageSize, id, 1, buf)
	if err != nil {
		return nil, buf, false, fmt.Errorf("freelist: %w", err)
	}
	if binary.LittleEndian.Uint16(buf[8:])&freelistPageFlag == 0 {
		return nil, buf, false, fmt.Errorf("freelist: page %d is not a freelist page", id)
	}
	if overflow := binary.LittleEndian.Uint32(buf[12:]); overflow > 0 {
		if buf, err = readPages(f, pageSize, id, int(overflow)+1, buf); err != nil {
			return nil, buf, false, fmt.Errorf("freelist: %w", err)
		}
	}
	count, at := int(binary.LittleEndian.Uint16(buf[10:])), pageHeaderSize
	if count == 0xFFFF {
		count, at = int(binary.LittleEndian.Uint64(buf[pageHeaderSize:])), pageHeaderSize+8
	}
	if count < 0 || at+8*count > len(buf) {
		return nil, buf, false, fmt.Errorf("freelist: page %d: count %d does not fit", id, count)
	}
	entries = buf[at : at+8*count]
	sorted = true
	for i := 8; i < len(entries); i += 8 {
		if binary.LittleEndian.Uint64(entries[i-8:]) >= binary.LittleEndian.Uint64(entries[i:]) {
			sorted = false
			break
		}
	}
	return entries, buf, sorted, nil
}

// sortEntries sorts raw freelist entries in place (a bbolt that stopped
// writing them sorted still works, at the cost of this sort).
func sortEntries(e []byte) {
	ids := make([]uint64, len(e)/8)
	for i := range ids {
		ids[i] = binary.LittleEndian.Uint64(e[8*i:])
	}
	slices.Sort(ids)
	for i, id := range ids {
		binary.LittleEndian.PutUint64(e[8*i:], id)
	}
}

// decodeEntries returns raw freelist entries as page IDs.
func decodeEntries(e []byte) []uint64 {
	ids := make([]uint64, len(e)/8)
	for i := range ids {
		ids[i] = binary.LittleEndian.Uint64(e[8*i:])
	}
	return ids
}

// writtenPages are the pages a transaction wrote, derived without help from
// bbolt: a commit writes exactly the pages it allocated, and it allocates
// only pages that were free before it (prevFree, the previous commit's
// freelist entries, pending pages included) or past the old high water
// mark. Of those, the ones still listed in its own freelist (free) were not
// taken. Pages it freed were in use before, so they are in neither list.
// Both lists are raw sorted entries as bbolt wrote them.
//
// A commit changes the freelist by a few entries (the pages it took, the
// pages it freed); the rest of the two lists is the same bytes at an
// offset that shifts by one entry per change. So instead of decoding both
// lists, the walk skips each run of equal bytes with bytes.Equal over
// chunks and decodes only the entries around a change: the cost is a
// memory compare of the lists plus O(pages changed), with no allocation.
// Returns sorted IDs.
func writtenPages(prevFree []byte, prevHWM uint64, free []byte, hwm uint64, dst []uint64) []uint64 {
	dst = dst[:0]
	i, j := 0, 0 // byte offsets into prevFree and free
	for i < len(prevFree) {
		n := commonPrefix(prevFree[i:], free[j:])
		i, j = i+n, j+n
		if i >= len(prevFree) {
			break
		}
		id := binary.LittleEndian.Uint64(prevFree[i:])
		if id >= prevHWM {
			break
		}
		// Entries of free below id are pages this commit freed.
		for j < len(free) && binary.LittleEndian.Uint64(free[j:]) < id {
			j += 8
		}
		if j < len(free) && binary.LittleEndian.Uint64(free[j:]) == id {
			i, j = i+8, j+8 // still free: not taken
			continue
		}
		dst = append(dst, id) // was free, is not: taken
		i += 8
	}
	if hwm > prevHWM {
		// The file grew: every new page not in its freelist was taken.
		at := searchEntries(free, prevHWM)
		for id := prevHWM; id < hwm; id++ {
			for at < len(free) && binary.LittleEndian.Uint64(free[at:]) < id {
				at += 8
			}
			if at < len(free) && binary.LittleEndian.Uint64(free[at:]) == id {
				continue
			}
			dst = append(dst, id)
		}
	}
	return dst
}

// searchEntries returns the byte offset of the first entry >= id in the
// sorted raw entries e.
func searchEntries(e []byte, id uint64) int {
	lo, hi := 0, len(e)/8
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if binary.LittleEndian.Uint64(e[8*m:]) < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return 8 * lo
}

// commonPrefix is the length, in whole entries (multiples of 8 bytes), of
// the longest common prefix of a and b.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b)) / 8 * 8
	const chunk = 512
	i := 0
	for i+chunk <= n && bytes.Equal(a[i:i+chunk], b[i:i+chunk]) {
		i += chunk
	}
	for i+8 <= n && binary.LittleEndian.Uint64(a[i:]) == binary.LittleEndian.Uint64(b[i:]) {
		i += 8
	}
	return i
}
