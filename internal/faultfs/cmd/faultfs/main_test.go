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
	backing := runAndCut(t, syscall.SIGUSR1, "cut")
	if _, err := os.Stat(filepath.Join(backing, "unsynced")); !os.IsNotExist(err) {
		t.Fatalf("unsynced file survived the cut: %v", err)
	}
}

// SIGUSR2 cuts torn with the given seed; the synced file survives.
func TestSIGUSR2CutsTorn(t *testing.T) {
	runAndCut(t, syscall.SIGUSR2, "cut torn 7")
}

// runAndCut starts the command, writes a synced and an unsynced file
// through it, sends sig, checks the line it prints and its exit, and
// returns the backing directory.
func runAndCut(t *testing.T, sig syscall.Signal, line string) string {
	t.Helper()
	faultfs.Require(t)
	bin := filepath.Join(t.TempDir(), "faultfs")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	backing, mnt := t.TempDir(), t.TempDir()
	cmd := exec.Command(bin, "-backing", backing, "-mount", mnt, "-seed", "7")
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
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if !sc.Scan() || sc.Text() != line {
		t.Fatalf("after %v: printed %q, want %q", sig, sc.Text(), line)
	}
	for sc.Scan() {
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after %v: %v", sig, err)
	}
	if b, err := os.ReadFile(filepath.Join(backing, "synced")); err != nil || string(b) != "kept" {
		t.Fatalf("synced file: %q %v", b, err)
	}
	return backing
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
