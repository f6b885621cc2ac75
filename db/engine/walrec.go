package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// A WAL file is a base record at offset 0 and transaction records after
// walBaseArea, all of one generation:
//
//	magic u32 | crc32c u32 | gen u64 | txid u64 | payload length u32 | entries u32 | payload
//
// The payload is entries of (page ID u64, pages u32, zeros u32) each
// followed by that many page images less their last zeros bytes, which are
// all zero and left out: bbolt leaves a page's unused tail zeroed, and
// leaving it out halves what the log writes (measured: 46 % of the bytes
// at 1,000 calls/s). Base records and records of earlier versions store
// full images (zeros 0). The CRC covers everything after itself. The
// base record holds both meta pages as they were at its txid; the file
// was fsynced at that txid, so replaying the base and the records after it
// rebuilds every page written since. Bytes past the last record are left
// from an older generation (the files are reused, not truncated), so a
// reader stops at the first record of another generation or a bad CRC.
const (
	walMagic      = 0x4c574545 // "EEWL"
	walHeaderSize = 32
	walEntrySize  = 16
)

// checksum is the records' CRC (crc32.MakeTable caches the table).
func checksum(b []byte) uint32 {
	return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
}

// walBaseArea is the space reserved at the start of a WAL file for the base
// record: a header and two meta pages.
func walBaseArea(pageSize int) int64 {
	n := walHeaderSize + 2*(walEntrySize+pageSize)
	return int64((n + 4095) / 4096 * 4096)
}

// walRecord builds records into one reusable buffer.
type walRecord struct {
	buf     []byte
	entries uint32
}

func (r *walRecord) begin(gen, txid uint64) {
	r.buf = append(r.buf[:0], make([]byte, walHeaderSize)...)
	binary.LittleEndian.PutUint32(r.buf[0:], walMagic)
	binary.LittleEndian.PutUint64(r.buf[8:], gen)
	binary.LittleEndian.PutUint64(r.buf[16:], txid)
	r.entries = 0
}

// add appends an entry for n pages at id; the caller fills the returned
// slice with their images.
func (r *walRecord) add(id uint64, n, pageSize int) []byte {
	var e [walEntrySize]byte
	binary.LittleEndian.PutUint64(e[0:], id)
	binary.LittleEndian.PutUint32(e[8:], uint32(n))
	r.buf = append(r.buf, e[:]...)
	at := len(r.buf)
	r.buf = append(r.buf, make([]byte, n*pageSize)...)
	r.entries++
	return r.buf[at:]
}

// addPages appends img, the images of the pages from id on, one entry per
// page without its zero tail.
func (r *walRecord) addPages(id uint64, img []byte, pageSize int) {
	for k := 0; k*pageSize < len(img); k++ {
		pg := img[k*pageSize : (k+1)*pageSize]
		used := len(pg)
		// A word at a time first: the tail is often most of the page, and
		// this runs under the writer lock for every page of every commit.
		for used >= 8 && binary.LittleEndian.Uint64(pg[used-8:]) == 0 {
			used -= 8
		}
		for used > 0 && pg[used-1] == 0 {
			used--
		}
		var e [walEntrySize]byte
		binary.LittleEndian.PutUint64(e[0:], id+uint64(k))
		binary.LittleEndian.PutUint32(e[8:], 1)
		binary.LittleEndian.PutUint32(e[12:], uint32(pageSize-used))
		r.buf = append(append(r.buf, e[:]...), pg[:used]...)
		r.entries++
	}
}

// finish writes the lengths and the CRC and returns the record's bytes.
func (r *walRecord) finish() []byte {
	binary.LittleEndian.PutUint32(r.buf[24:], uint32(len(r.buf)-walHeaderSize))
	binary.LittleEndian.PutUint32(r.buf[28:], r.entries)
	binary.LittleEndian.PutUint32(r.buf[4:], checksum(r.buf[8:]))
	return r.buf
}

// restamp moves a finished record to another generation.
func restamp(rec []byte, gen uint64) {
	binary.LittleEndian.PutUint64(rec[8:], gen)
	binary.LittleEndian.PutUint32(rec[4:], checksum(rec[8:]))
}

// walEntry is one run of pages in a record read back.
type walEntry struct {
	id    uint64
	pages []byte
}

// readRecord reads the record at off. ok is false at the end of the log:
// past the file, a torn or foreign record, or one of another generation
// (want 0 accepts any generation).
func readRecord(f io.ReaderAt, off int64, want uint64, pageSize int) (rec []byte, gen, txid uint64, ok bool, err error) {
	var h [walHeaderSize]byte
	if _, err := f.ReadAt(h[:], off); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, 0, false, nil
		}
		return nil, 0, 0, false, err
	}
	gen, txid = binary.LittleEndian.Uint64(h[8:]), binary.LittleEndian.Uint64(h[16:])
	n := int64(binary.LittleEndian.Uint32(h[24:]))
	if binary.LittleEndian.Uint32(h[0:]) != walMagic || (want != 0 && gen != want) || n > 1<<31 {
		return nil, 0, 0, false, nil
	}
	rec = make([]byte, walHeaderSize+n)
	if _, err := f.ReadAt(rec, off); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, 0, 0, false, nil // torn at the end of the file
		}
		return nil, 0, 0, false, err
	}
	if checksum(rec[8:]) != binary.LittleEndian.Uint32(rec[4:]) {
		return nil, 0, 0, false, nil
	}
	if _, err := recordEntries(rec, pageSize); err != nil {
		return nil, 0, 0, false, err
	}
	return rec, gen, txid, true, nil
}

// recordEntries splits a record with a valid CRC into its page runs.
func recordEntries(rec []byte, pageSize int) ([]walEntry, error) {
	count := int(binary.LittleEndian.Uint32(rec[28:]))
	p := rec[walHeaderSize:]
	out := make([]walEntry, 0, count)
	for range count {
		if len(p) < walEntrySize {
			return nil, errors.New("wal record: entry cut short")
		}
		id := binary.LittleEndian.Uint64(p[0:])
		n, zeros := int64(binary.LittleEndian.Uint32(p[8:])), int64(binary.LittleEndian.Uint32(p[12:]))
		// Trimmed entries are single pages (addPages), so a damaged count
		// can neither ask for a huge allocation nor reach past its page.
		if n < 1 || (zeros > 0 && (n != 1 || zeros > int64(pageSize))) {
			return nil, fmt.Errorf("wal record: entry of %d pages less %d zero bytes at page %d", n, zeros, id)
		}
		size := n*int64(pageSize) - zeros
		if int64(len(p)) < walEntrySize+size {
			return nil, fmt.Errorf("wal record: entry of %d pages at page %d does not fit", n, id)
		}
		img := p[walEntrySize : walEntrySize+size]
		if zeros > 0 {
			img = append(img[:size:size], make([]byte, zeros)...)
		}
		out = append(out, walEntry{id: id, pages: img})
		p = p[walEntrySize+size:]
	}
	if len(p) != 0 {
		return nil, errors.New("wal record: trailing bytes")
	}
	return out, nil
}

// walPaths are the two WAL files next to the database.
func walPaths(dbPath string) [2]string {
	return [2]string{dbPath + "-wal0", dbPath + "-wal1"}
}

// walLog is what one WAL file holds: its base and the records after it.
type walLog struct {
	file     int
	pageSize int
	gen      uint64
	base     uint64 // txid of the base record
	last     uint64 // txid of the last record
	records  [][]byte
	end      int64 // offset past the last record
}

// readLog reads a WAL file's base and records; ok is false when it has no
// valid base.
func readLog(path string, pageSize int) (l walLog, ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return l, false, nil
	}
	if err != nil {
		return l, false, err
	}
	defer func() { _ = f.Close() }()
	base, gen, txid, ok, err := readRecord(f, 0, 0, pageSize)
	if err != nil {
		return l, false, fmt.Errorf("read %s: %w", path, err)
	}
	if !ok {
		return l, false, nil
	}
	l = walLog{gen: gen, base: txid, last: txid, records: [][]byte{base}, end: walBaseArea(pageSize)}
	for {
		rec, _, txid, ok, err := readRecord(f, l.end, gen, pageSize)
		if err != nil {
			return l, false, fmt.Errorf("read %s at %d: %w", path, l.end, err)
		}
		if !ok || txid != l.last+1 {
			return l, true, nil
		}
		l.records = append(l.records, rec)
		l.last = txid
		l.end += int64(len(rec))
	}
}
