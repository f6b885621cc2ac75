package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/enneo-edge/enneo-edge/internal/faultfs"
)

// The command mounts, cuts on SIGUSR1 and exits 0 with the backing
// directory at its synced state.
func TestSIGUSR1Cuts(t *testing.T) {
	if ok, why := faultfs.Available(); !ok {
		if os.Getenv("CI") == "true" {
			t.Fatalf("FUSE unavailable in CI: %s", why)
		}
		t.Skip("FUSE unavailable: " + why)
	}
	bin := filepath.Join(t.TempDir(), "faultfs")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	backing, mnt := t.TempDir(), t.TempDir()
	cmd := exec.Command(bin, "-backing", backing, "-mount", mnt)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "mounted ") {
		t.Fatalf("no mounted line: %q", sc.Text())
	}
	f, err := os.Create(filepath.Join(mnt, "synced"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("kept"); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.WriteFile(filepath.Join(mnt, "unsynced"), []byte("lost"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGUSR1: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(backing, "synced")); err != nil || string(b) != "kept" {
		t.Fatalf("synced file: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(backing, "unsynced")); !os.IsNotExist(err) {
		t.Fatalf("unsynced file survived the cut: %v", err)
	}
}

func TestUsage(t *testing.T) {
	if os.Getenv("FAULTFS_USAGE_CHILD") == "1" {
		os.Args = []string{"faultfs", "-mount", "/nonexistent"}
		main()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestUsage$")
	cmd.Env = append(os.Environ(), "FAULTFS_USAGE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "usage:") {
		t.Fatalf("missing -backing: %v\n%s", err, out)
	}
}
