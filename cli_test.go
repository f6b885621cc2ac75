package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enneo-edge/enneo-edge/db"
)

// runMainEnv makes the test binary run main instead of the tests, so the
// CLI is tested as a process: its exit status and what it prints.
const runMainEnv = "ENNEO_EDGE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// cli runs enneo-edge with args in dir and returns its exit status, stdout
// and stderr.
func cli(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "ENNEO_EDGE_TOKEN=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

func TestHelpExitsZeroWithTheArguments(t *testing.T) {
	dir := t.TempDir()
	for cmd, want := range map[string]string{
		"serve": "enneo-edge serve", "import": "[-partial] FILE", "check": "[DBFILE]",
		"backup": "[-timeout D] FILE", "export": "[-o FILE] [DBFILE]", "outbox": "[list|retry SEQ|retry-all|dead-letter SEQ]", "bench": "[-url URL -against-live",
	} {
		code, _, stderr := cli(t, dir, cmd, "-h")
		if code != 0 || !strings.Contains(stderr, "Usage:\n") || !strings.Contains(stderr, want) || !strings.Contains(stderr, "  -config") && cmd != "bench" {
			t.Errorf("%s -h: exit %d\n%s", cmd, code, stderr)
		}
		if strings.Contains(stderr, "help requested") {
			t.Errorf("%s -h calls help an error:\n%s", cmd, stderr)
		}
	}
}

// Errors are said once, with one prefix, and say what is wrong.
func TestCLIRefusesBadArgumentsOnce(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "extra"}, "enneo-edge serve: unexpected arguments: extra (enneo-edge serve takes no arguments)\n"},
		{[]string{"check", "a", "b"}, "enneo-edge check: unexpected arguments: b (enneo-edge check takes at most one DBFILE)\n"},
		{[]string{"check", "a"}, "enneo-edge check: stat a: no such file or directory\n"},
		{[]string{"import", "a", "b"}, "enneo-edge import: unexpected arguments: b (enneo-edge import takes one FILE)\n"},
		{[]string{"import"}, "enneo-edge import: missing one FILE (enneo-edge import -h shows the usage)\n"},
		{[]string{"import", "-format", "xml", "x.csv"}, "enneo-edge import: -format: must be auto, csv or jsonl, got \"xml\"\n"},
		{[]string{"import", "x.csv"}, "enneo-edge import: open x.csv: no such file or directory\n"},
		{[]string{"backup", "a", "b"}, "enneo-edge backup: unexpected arguments: b (enneo-edge backup takes one FILE)\n"},
		{[]string{"bench", "-duration", "5"}, "enneo-edge bench: invalid value \"5\" for flag -duration: want a number with a unit, such as 10s, 500ms or 2m (time: missing unit in duration \"5\") (enneo-edge bench -h lists its flags)\n"},
		{[]string{"serve", "-bogus"}, "enneo-edge serve: flag provided but not defined: -bogus (enneo-edge serve -h lists its flags)\n"},
	}
	for _, tc := range tests {
		code, _, stderr := cli(t, dir, tc.args...)
		if code != 1 || stderr != tc.want {
			t.Errorf("%v: exit %d, stderr\n%q\nwant\n%q", tc.args, code, stderr, tc.want)
		}
	}
	// The subcommand is checked before the token.
	code, _, stderr := cli(t, dir, "outbox", "bogus")
	if code != 1 || !strings.Contains(stderr, `unknown or incomplete subcommand "bogus"`) || strings.Contains(stderr, "token") {
		t.Errorf("outbox bogus: exit %d\n%s", code, stderr)
	}
	// Flags after the subcommand are flags.
	code, _, stderr = cli(t, dir, "outbox", "-url", "http://127.0.0.1:1", "-token", "t", "list", "-json")
	if code != 1 || !strings.Contains(stderr, "is enneo-edge running?") {
		t.Errorf("outbox list -json: exit %d\n%s", code, stderr)
	}
}

// check FILE checks FILE, not the config's database.
func TestCheckChecksTheFileNamed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "other.db")
	store, err := db.Open(path, db.Options{SiteID: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go store.Run(ctx)
	cancel()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := cli(t, dir, "check", "-config", "", path)
	if code != 0 || !strings.Contains(stdout, path+": ok") {
		t.Fatalf("check %s: exit %d\n%s%s", path, code, stdout, stderr)
	}
}

// version names the version and commit stamped into the build.
func TestVersionNamesTheCommit(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "enneo-edge")
	build := exec.Command("go", "build", "-o", bin, "-ldflags", "-X main.version=1.2.3 -X main.commit=0123abc", ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "enneo-edge 1.2.3 (commit 0123abc, go1.") {
		t.Errorf("version printed %q", out)
	}
}
