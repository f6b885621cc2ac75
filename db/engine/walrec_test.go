package engine

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// Pages go into a record without their zero tails and come back whole.
func TestRecordLeavesOutZeroTails(t *testing.T) {
	const ps = 512
	page := func(used int, b byte) []byte {
		p := make([]byte, ps)
		for i := range used {
			p[i] = b
		}
		return p
	}
	mid := page(ps, 7)
	for i := 100; i < 300; i++ {
		mid[i] = 0 // zeros inside a page are kept
	}
	for _, tc := range []struct {
		name   string
		img    []byte
		stored int // payload bytes, headers included
	}{
		{"all zero", page(0, 0), walEntrySize},
		{"full", page(ps, 1), walEntrySize + ps},
		{"partly used", page(40, 2), walEntrySize + 40},
		{"used to mid-word", page(45, 5), walEntrySize + 45},
		{"zeros inside", mid, walEntrySize + ps},
		{"a run of three", append(append(page(10, 3), page(0, 0)...), page(ps-1, 4)...), 3*walEntrySize + 10 + ps - 1},
	} {
		var r walRecord
		r.begin(9, 42)
		r.addPages(100, tc.img, ps)
		rec := r.finish()
		if got := len(rec) - walHeaderSize; got != tc.stored {
			t.Errorf("%s: %d payload bytes, want %d", tc.name, got, tc.stored)
		}
		back, gen, txid, ok, err := readRecord(bytes.NewReader(rec), 0, 9, ps)
		if err != nil || !ok || gen != 9 || txid != 42 {
			t.Fatalf("%s: read back: %v %v %d %d", tc.name, ok, err, gen, txid)
		}
		entries, err := recordEntries(back, ps)
		if err != nil {
			t.Fatal(err)
		}
		var whole []byte
		for i, e := range entries {
			if e.id != 100+uint64(i) || len(e.pages) != ps {
				t.Fatalf("%s: entry %d is page %d with %d bytes", tc.name, i, e.id, len(e.pages))
			}
			whole = append(whole, e.pages...)
		}
		if !bytes.Equal(whole, tc.img) {
			t.Errorf("%s: pages differ after the round trip", tc.name)
		}
	}
}

// Damaged entry headers are refused, not read as huge or negative sizes:
// trimmed entries are single pages with at most a page of zeros.
func TestRecordRefusesBadZeros(t *testing.T) {
	for _, tc := range []struct {
		name         string
		pages, zeros uint32
	}{
		{"more zeros than the page", 1, 513},
		{"a trimmed run", 2, 10},
		{"a huge trimmed run", 1 << 18, 1 << 30},
		{"negative on 32 bits", 1, 0xFFFFF000},
	} {
		var r walRecord
		r.begin(1, 1)
		r.addPages(5, make([]byte, 512), 512)
		rec := r.finish()
		binary.LittleEndian.PutUint32(rec[walHeaderSize+8:], tc.pages)
		binary.LittleEndian.PutUint32(rec[walHeaderSize+12:], tc.zeros)
		if _, err := recordEntries(rec, 512); err == nil || !strings.Contains(err.Error(), "wal record") {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
