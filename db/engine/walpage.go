package engine

import (
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

// readFreelist returns the page IDs bbolt's freelist page lists: free and
// pending pages, sorted.
func readFreelist(f *os.File, pageSize int, id uint64, buf []byte) ([]uint64, []byte, error) {
	if id == noFreelist {
		return nil, buf, errors.New("the freelist is not stored in the file (NoFreelistSync); the WAL needs it")
	}
	buf, err := readPages(f, pageSize, id, 1, buf)
	if err != nil {
		return nil, buf, fmt.Errorf("freelist: %w", err)
	}
	if binary.LittleEndian.Uint16(buf[8:])&freelistPageFlag == 0 {
		return nil, buf, fmt.Errorf("freelist: page %d is not a freelist page", id)
	}
	if overflow := binary.LittleEndian.Uint32(buf[12:]); overflow > 0 {
		if buf, err = readPages(f, pageSize, id, int(overflow)+1, buf); err != nil {
			return nil, buf, fmt.Errorf("freelist: %w", err)
		}
	}
	count, at := int(binary.LittleEndian.Uint16(buf[10:])), pageHeaderSize
	if count == 0xFFFF {
		count, at = int(binary.LittleEndian.Uint64(buf[pageHeaderSize:])), pageHeaderSize+8
	}
	if count < 0 || at+8*count > len(buf) {
		return nil, buf, fmt.Errorf("freelist: page %d: count %d does not fit", id, count)
	}
	ids := make([]uint64, count)
	for i := range ids {
		ids[i] = binary.LittleEndian.Uint64(buf[at+8*i:])
	}
	if !slices.IsSorted(ids) {
		slices.Sort(ids)
	}
	return ids, buf, nil
}

// writtenPages are the pages a transaction wrote, derived without help from
// bbolt: a commit writes exactly the pages it allocated, and it allocates
// only pages that were free before it (prevFree, the previous commit's
// freelist, pending pages included) or past the old high water mark. Of
// those, the ones still listed in its own freelist were not taken. Pages
// it freed were in use before, so they are in neither list. Returns sorted
// IDs.
func writtenPages(prevFree []uint64, prevHWM uint64, free []uint64, hwm uint64, dst []uint64) []uint64 {
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
