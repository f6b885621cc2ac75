package db

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/enneo-edge/enneo-edge/db/engine"
)

// TestDiskFullRefusesAndRecovers puts the file on a 4 MiB tmpfs (needs
// root, as CI runs) and fills the disk: the write that finds no space gets
// ErrFull, not the fatal ErrFailed, and writes succeed again once space is
// freed.
func TestDiskFullRefusesAndRecovers(t *testing.T) {
	dir := smallDisk(t)

	// The log's files take their space at open: keep them small here.
	s := openTest(t, filepath.Join(dir, "edge.db"), Options{}, func(eo *engine.Options) { eo.LogFileSize = 256 << 10 })
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 3<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var acked []int64
	var err error
	for i := 0; i < 5000; i++ {
		var res CallResult
		if res, err = s.CreateCall(ctx, testCall(fmt.Sprintf("disk-%d", i), 2000)); err != nil {
			break
		}
		acked = append(acked, res.Answer.TicketID)
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("disk full: want ErrFull, got %v", err)
	}
	t.Logf("%d calls fitted before the disk was full: %v", len(acked), err)
	if s.Failed() != nil {
		t.Fatalf("a full disk failed the store: %v", s.Failed())
	}
	for _, id := range acked {
		if _, _, err := s.Ticket(id); err != nil {
			t.Fatalf("acknowledged ticket %d: %v", id, err)
		}
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateCall(ctx, testCall("after-disk-freed", 2000)); err != nil {
		t.Fatalf("write after the disk was freed: %v", err)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("check: %v", err)
	}
}

// smallDisk mounts a 4 MiB tmpfs on a temporary directory (root only, as
// CI runs; skipped otherwise).
func smallDisk(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	return dir
}

// TestOpenWithoutRoomForTheLog: when the log's files cannot be reserved
// (here a 4 MiB tmpfs against 2 × 32 MiB), the store opens without the
// log, says why, and commits durably through bbolt.
func TestOpenWithoutRoomForTheLog(t *testing.T) {
	dir := smallDisk(t)
	path := filepath.Join(dir, "edge.db")
	s := openTest(t, path, Options{})
	if s.LogUnavailable() == nil || s.LogStats().Enabled {
		t.Fatalf("log on a disk without room for it: %v", s.LogUnavailable())
	}
	for _, p := range engine.LogPaths(path) {
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("%s left behind", p)
		}
	}
	res, err := s.CreateCall(context.Background(), testCall("no-log", 100))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Ticket(res.Answer.TicketID); err != nil {
		t.Fatal(err)
	}
}
