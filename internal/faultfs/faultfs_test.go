package faultfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// mount mounts a fault file system for one test; it skips only outside
// CI when FUSE is unavailable.
func mount(t *testing.T) (backing, mnt string, fsys *FS) {
	t.Helper()
	Require(t)
	backing, mnt = t.TempDir(), t.TempDir()
	fsys, err := Mount(backing, mnt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fsys.Unmount() })
	return backing, mnt, fsys
}

func write(t *testing.T, path string, data string, flag int, sync bool) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|flag, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func syncDir(t *testing.T, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
}

// want checks a backing file's content after Cut; "" with gone means absent.
func want(t *testing.T, path, content string, gone bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	switch {
	case gone && !errors.Is(err, os.ErrNotExist):
		t.Fatalf("%s: want absent, got %q %v", filepath.Base(path), b, err)
	case !gone && err != nil:
		t.Fatalf("%s: %v", filepath.Base(path), err)
	case !gone && string(b) != content:
		t.Fatalf("%s: got %q (%d bytes), want %q (%d bytes)", filepath.Base(path), short(b), len(b), short([]byte(content)), len(content))
	}
}

func short(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

func cut(t *testing.T, fsys *FS) {
	t.Helper()
	if err := fsys.Cut(); err != nil {
		t.Fatal(err)
	}
}

func TestWrites(t *testing.T) {
	backing, mnt, fsys := mount(t)
	// Its name made durable by a directory fsync, its data never synced:
	// empty after the cut, as ext4's delayed allocation leaves it.
	write(t, filepath.Join(mnt, "named"), "data", 0, false)
	syncDir(t, mnt)
	write(t, filepath.Join(mnt, "synced"), "kept", 0, true)
	// Synced, then overwritten in place and extended without a sync.
	write(t, filepath.Join(mnt, "over"), "0123456789", 0, true)
	write(t, filepath.Join(mnt, "over"), "abcdefghijklmnop", 0, false)
	// O_APPEND: one append synced with fdatasync, one not.
	write(t, filepath.Join(mnt, "log"), "a", 0, true)
	f, err := os.OpenFile(filepath.Join(mnt, "log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("b"); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("c"); err != nil {
		t.Fatal(err)
	}
	// A big file written across many pages, synced, then half rewritten.
	big := bytes.Repeat([]byte("x"), 3*pageSize+100)
	write(t, filepath.Join(mnt, "big"), string(big), 0, true)
	g, err := os.OpenFile(filepath.Join(mnt, "big"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.WriteAt(bytes.Repeat([]byte("y"), 2*pageSize), pageSize/2); err != nil {
		t.Fatal(err)
	}
	// Created after the last sync (any fsync commits the names created
	// before it, as ext4's journal does): gone.
	write(t, filepath.Join(mnt, "unsynced"), "lost", 0, false)

	cut(t, fsys)
	if _, err := f.WriteString("d"); !errors.Is(err, syscall.EIO) {
		t.Fatalf("write after Cut: %v, want EIO", err)
	}
	f.Close()
	g.Close()
	if d := fsys.Dropped(); d.Files != 5 || d.Names != 1 {
		t.Errorf("Dropped() = %+v, want 5 files (over, named, log, big, unsynced) and 1 name (unsynced)", d)
	}
	want(t, filepath.Join(backing, "synced"), "kept", false)
	want(t, filepath.Join(backing, "unsynced"), "", true)
	want(t, filepath.Join(backing, "over"), "0123456789", false)
	want(t, filepath.Join(backing, "named"), "", false)
	want(t, filepath.Join(backing, "log"), "ab", false)
	want(t, filepath.Join(backing, "big"), string(big), false)
	if _, err := os.Stat(filepath.Join(backing, trashName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("trash left after Cut: %v", err)
	}
}

func TestTruncateAndFallocate(t *testing.T) {
	backing, mnt, fsys := mount(t)
	orig := string(bytes.Repeat([]byte("0123456789"), 1000))
	for _, name := range []string{"trunc", "ftrunc", "otrunc", "falloc", "punch", "kept"} {
		write(t, filepath.Join(mnt, name), orig, 0, true)
	}
	if err := os.Truncate(filepath.Join(mnt, "trunc"), 5); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(mnt, "ftrunc"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(4100); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("zz"), 5000); err != nil { // past the new end
		t.Fatal(err)
	}
	f.Close()
	write(t, filepath.Join(mnt, "otrunc"), "new", os.O_TRUNC, false)
	g, err := os.OpenFile(filepath.Join(mnt, "falloc"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Fallocate(int(g.Fd()), 0, 0, 1<<20); err != nil {
		t.Fatal(err)
	}
	g.Close()
	h, err := os.OpenFile(filepath.Join(mnt, "punch"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Fallocate(int(h.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, 8192); err != nil {
		t.Fatal(err)
	}
	h.Close()
	// Truncated and synced: the new size is what survives.
	write(t, filepath.Join(mnt, "kept"), "short", os.O_TRUNC, true)

	cut(t, fsys)
	for _, name := range []string{"trunc", "ftrunc", "otrunc", "falloc", "punch"} {
		want(t, filepath.Join(backing, name), orig, false)
	}
	want(t, filepath.Join(backing, "kept"), "short", false)
}

func TestNames(t *testing.T) {
	backing, mnt, fsys := mount(t)
	for _, name := range []string{"a", "b", "c", "target", "gone", "e1", "e2"} {
		write(t, filepath.Join(mnt, name), name, 0, true)
	}
	if err := os.Mkdir(filepath.Join(mnt, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(mnt, "sub", "f"), "f", 0, true) // commits the mkdir too
	write(t, filepath.Join(mnt, "sub", "keep"), "k1", 0, true)
	syncDir(t, mnt)

	// Renamed, then the directory fsynced: the new name survives.
	if err := os.Rename(filepath.Join(mnt, "b"), filepath.Join(mnt, "b2")); err != nil {
		t.Fatal(err)
	}
	syncDir(t, mnt)
	// Renamed without any sync: back under the old name.
	if err := os.Rename(filepath.Join(mnt, "a"), filepath.Join(mnt, "a2")); err != nil {
		t.Fatal(err)
	}
	// Renamed over an existing file without a sync: both come back.
	if err := os.Rename(filepath.Join(mnt, "c"), filepath.Join(mnt, "target")); err != nil {
		t.Fatal(err)
	}
	// Removed without a sync: back. A new directory and the file in it,
	// unsynced: gone.
	if err := os.Remove(filepath.Join(mnt, "gone")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(mnt, "newdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(mnt, "newdir", "x"), "x", 0, false)
	// Moved between directories without a sync.
	if err := os.Rename(filepath.Join(mnt, "sub", "f"), filepath.Join(mnt, "f")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, filepath.Join(mnt, "e1"), unix.AT_FDCWD, filepath.Join(mnt, "e2"), unix.RENAME_EXCHANGE); err != nil {
		t.Fatal(err)
	}
	// A file with no pending name change synced: it commits no name.
	write(t, filepath.Join(mnt, "sub", "keep"), "k2", os.O_TRUNC, true)
	// The trash is not visible through the mount.
	ents, err := os.ReadDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == trashName {
			t.Fatal("trash listed in the mount")
		}
	}
	if _, err := os.Stat(filepath.Join(mnt, trashName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("trash visible in the mount: %v", err)
	}

	cut(t, fsys)
	want(t, filepath.Join(backing, "a"), "a", false)
	want(t, filepath.Join(backing, "a2"), "", true)
	want(t, filepath.Join(backing, "b"), "", true)
	want(t, filepath.Join(backing, "b2"), "b", false)
	want(t, filepath.Join(backing, "c"), "c", false)
	want(t, filepath.Join(backing, "target"), "target", false)
	want(t, filepath.Join(backing, "gone"), "gone", false)
	want(t, filepath.Join(backing, "newdir"), "", true)
	want(t, filepath.Join(backing, "sub", "f"), "f", false)
	want(t, filepath.Join(backing, "f"), "", true)
	want(t, filepath.Join(backing, "sub", "keep"), "k2", false)
	want(t, filepath.Join(backing, "e1"), "e1", false)
	want(t, filepath.Join(backing, "e2"), "e2", false)
}

// A rename made durable by an fsync of the renamed file, and a removal made
// durable by an fsync of its directory.
func TestFsyncCommitsNames(t *testing.T) {
	backing, mnt, fsys := mount(t)
	write(t, filepath.Join(mnt, "tmp"), "v1", 0, true)
	write(t, filepath.Join(mnt, "old"), "old", 0, true)
	syncDir(t, mnt)
	if err := os.Rename(filepath.Join(mnt, "tmp"), filepath.Join(mnt, "final")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(mnt, "final"), "v2", os.O_TRUNC, true)
	if err := os.Remove(filepath.Join(mnt, "old")); err != nil {
		t.Fatal(err)
	}
	syncDir(t, mnt)
	cut(t, fsys)
	want(t, filepath.Join(backing, "tmp"), "", true)
	want(t, filepath.Join(backing, "final"), "v2", false)
	want(t, filepath.Join(backing, "old"), "", true)
}

// Unmount without Cut is a clean shutdown: everything stays, no trash.
func TestUnmountKeepsAll(t *testing.T) {
	backing, mnt, fsys := mount(t)
	write(t, filepath.Join(mnt, "x"), "x", 0, false)
	write(t, filepath.Join(mnt, "y"), "y", 0, false)
	if err := os.Remove(filepath.Join(mnt, "y")); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Unmount(); err != nil {
		t.Fatal(err)
	}
	want(t, filepath.Join(backing, "x"), "x", false)
	want(t, filepath.Join(backing, "y"), "", true)
	if _, err := os.Stat(filepath.Join(backing, trashName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("trash left after Unmount: %v", err)
	}
	if err := fsys.Cut(); err == nil {
		t.Fatal("Cut after Unmount succeeded")
	}
}

func TestMountBadBacking(t *testing.T) {
	if _, err := Mount(filepath.Join(t.TempDir(), "missing"), t.TempDir()); err == nil {
		t.Fatal("Mount over a missing backing directory succeeded")
	}
}

func TestRmdirSymlinkLink(t *testing.T) {
	backing, mnt, fsys := mount(t)
	if err := os.Mkdir(filepath.Join(mnt, "d"), 0o750); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(mnt, "f"), "f", 0, true)
	syncDir(t, mnt)
	if err := os.Remove(filepath.Join(mnt, "d")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", filepath.Join(mnt, "sym")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(mnt, "f"), filepath.Join(mnt, "hard")); err != nil {
		t.Fatal(err)
	}
	cut(t, fsys)
	if st, err := os.Stat(filepath.Join(backing, "d")); err != nil || !st.IsDir() || st.Mode().Perm() != 0o750 {
		t.Fatalf("removed directory not back: %v %v", st, err)
	}
	if _, err := os.Lstat(filepath.Join(backing, "sym")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("unsynced symlink survived: %v", err)
	}
	want(t, filepath.Join(backing, "hard"), "", true)
	want(t, filepath.Join(backing, "f"), "f", false)
}

// Writers append and fsync while Cut comes at some moment: each file
// keeps exactly what an fsync covered (the last acknowledged one, or the
// one in flight), and what it keeps is what was written.
func TestConcurrentWritersAndCut(t *testing.T) {
	backing, mnt, fsys := mount(t)
	const writers = 4
	acked := make([]int, writers)   // bytes covered by an fsync that returned
	syncing := make([]int, writers) // bytes covered by the fsync last begun
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			f, err := os.Create(filepath.Join(mnt, fmt.Sprint(w)))
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			for i := 0; ; i++ {
				if _, err := f.Write(record(w, i)); err != nil {
					return // EIO after the cut
				}
				if i%3 == 0 {
					syncing[w] = (i + 1) * 100
					if f.Sync() != nil {
						return
					}
					acked[w] = (i + 1) * 100
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	cut(t, fsys)
	close(done)
	wg.Wait()
	for w := range writers {
		b, err := os.ReadFile(filepath.Join(backing, fmt.Sprint(w)))
		// The fsync in flight at the cut may have made it or not;
		// nothing written after it may survive.
		if err != nil || len(b) != acked[w] && len(b) != syncing[w] {
			t.Fatalf("writer %d: %d bytes kept, want %d (acknowledged) or %d (fsync in flight): %v", w, len(b), acked[w], syncing[w], err)
		}
		for i := 0; i*100 < len(b); i++ {
			if !bytes.Equal(b[i*100:(i+1)*100], record(w, i)) {
				t.Fatalf("writer %d: record %d damaged: %q", w, i, b[i*100:(i+1)*100])
			}
		}
		t.Logf("writer %d: %d records kept, %d acknowledged", w, len(b)/100, acked[w]/100)
	}
}

func record(w, i int) []byte {
	return []byte(fmt.Sprintf("%-99s\n", fmt.Sprintf("writer %d record %d", w, i)))
}
