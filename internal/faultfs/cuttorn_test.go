package faultfs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// CutTorn leaves every unsynced page old or new, never a mixture within
// it, each size old or new, a prefix of the name changes, and all synced
// state; across seeds both outcomes occur.
func TestCutTorn(t *testing.T) {
	const pages = 8
	old := bytes.Repeat([]byte("o"), pages*pageSize)
	var sawOld, sawNew, sawOldSize, sawNewSize bool
	prefixes := map[int]bool{}
	for seed := range uint64(12) {
		backing, mnt, fsys := mount(t)
		write(t, filepath.Join(mnt, "synced"), "kept", 0, true)
		write(t, filepath.Join(mnt, "f"), string(old), 0, true)
		f, err := os.OpenFile(filepath.Join(mnt, "f"), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(bytes.Repeat([]byte("n"), (pages+1)*pageSize), 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
		for _, name := range []string{"a", "b", "c"} {
			write(t, filepath.Join(mnt, name), name, 0, false)
		}
		if err := fsys.CutTorn(seed); err != nil {
			t.Fatal(err)
		}
		want(t, filepath.Join(backing, "synced"), "kept", false)
		b, err := os.ReadFile(filepath.Join(backing, "f"))
		if err != nil {
			t.Fatal(err)
		}
		switch len(b) {
		case pages * pageSize:
			sawOldSize = true
		case (pages + 1) * pageSize:
			sawNewSize = true
			if !bytes.Equal(b[pages*pageSize:], bytes.Repeat([]byte("n"), pageSize)) {
				t.Fatalf("seed %d: the appended page is not the written one", seed)
			}
		default:
			t.Fatalf("seed %d: size %d, want %d or %d", seed, len(b), pages*pageSize, (pages+1)*pageSize)
		}
		for p := range pages {
			pg := b[p*pageSize : (p+1)*pageSize]
			switch {
			case bytes.Equal(pg, old[:pageSize]):
				sawOld = true
			case bytes.Equal(pg, bytes.Repeat([]byte("n"), pageSize)):
				sawNew = true
			default:
				t.Fatalf("seed %d: page %d is torn within: %q...", seed, p, pg[:16])
			}
		}
		n := 0
		for i, name := range []string{"a", "b", "c"} {
			if _, err := os.Stat(filepath.Join(backing, name)); err == nil {
				if n != i {
					t.Fatalf("seed %d: %s kept without the names created before it", seed, name)
				}
				n++
			}
		}
		prefixes[n] = true
		if err := fsys.Unmount(); err != nil {
			t.Fatal(err)
		}
	}
	if !sawOld || !sawNew || !sawOldSize || !sawNewSize || len(prefixes) < 2 {
		t.Fatalf("12 seeds gave too little variety: old pages %v, new pages %v, old size %v, new size %v, name prefixes %v",
			sawOld, sawNew, sawOldSize, sawNewSize, prefixes)
	}
}

// A rename over an existing file is atomic under CutTorn too: the old
// target or the new one, never neither.
func TestCutTornRenameOverIsAtomic(t *testing.T) {
	outcomes := map[string]bool{}
	for seed := range uint64(16) {
		backing, mnt, fsys := mount(t)
		write(t, filepath.Join(mnt, "target"), "old", 0, true)
		write(t, filepath.Join(mnt, "tmp"), "new", 0, true)
		syncDir(t, mnt)
		if err := os.Rename(filepath.Join(mnt, "tmp"), filepath.Join(mnt, "target")); err != nil {
			t.Fatal(err)
		}
		if err := fsys.CutTorn(seed); err != nil {
			t.Fatal(err)
		}
		target, terr := os.ReadFile(filepath.Join(backing, "target"))
		tmp, _ := os.ReadFile(filepath.Join(backing, "tmp"))
		got := fmt.Sprintf("target=%q(%v) tmp=%q", target, terr, tmp)
		if got != `target="old"(<nil>) tmp="new"` && got != `target="new"(<nil>) tmp=""` {
			t.Fatalf("seed %d: %s", seed, got)
		}
		outcomes[got] = true
		if err := fsys.Unmount(); err != nil {
			t.Fatal(err)
		}
	}
	if len(outcomes) != 2 {
		t.Fatalf("16 seeds gave only %v", outcomes)
	}
}
