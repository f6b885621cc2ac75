// Package edgetest builds the real enneo-edge binary, writes its config
// and runs it as a child process for the tests that kill, restart or
// network it (tests/crash, tests/sync, tests/central, tests/cluster), and
// sends requests to its API (Do).
package edgetest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/db"
)

// Build compiles the binary from the module root into a new temporary
// directory and returns its path and a function that removes it.
func Build(root string) (binary string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "enneo-edge-test")
	if err != nil {
		return "", nil, fmt.Errorf("build: %w", err)
	}
	binary = filepath.Join(dir, "enneo-edge")
	cmd := exec.Command("go", "build", "-o", binary, ".")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("build enneo-edge: %w", err)
	}
	return binary, func() { os.RemoveAll(dir) }, nil
}

// Proc is one running enneo-edge process.
type Proc struct {
	Cmd  *exec.Cmd
	URL  string        // base URL from its "listening on" line
	Done chan struct{} // closed when the process has exited
	Err  error         // its exit status, valid after Done
	Logs *Buffer       // its stderr
}

// listenLine is what serve prints once its listener works; the port may
// have been picked by the kernel (listen = "127.0.0.1:0").
var listenLine = regexp.MustCompile(`listening on (https?://\S+)`)

// Start runs `binary serve -config cfg` with extra environment and waits
// for its listening line. The process is killed when the test ends.
func Start(t testing.TB, binary, cfg string, env ...string) *Proc {
	t.Helper()
	cmd := exec.Command(binary, "serve", "-config", cfg)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &Proc{Cmd: cmd, Done: make(chan struct{}), Logs: new(Buffer)}
	cmd.Stderr = p.Logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { p.Err = cmd.Wait(); close(p.Done) }()
	select {
	case p.URL = <-urls:
	case <-p.Done:
		t.Fatalf("enneo-edge exited at start: %v\n%s", p.Err, p.Logs)
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("enneo-edge did not start\n%s", p.Logs)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.Done
	})
	return p
}

// Stop ends the process with SIGTERM and fails the test unless it exits
// cleanly within 20 s.
func (p *Proc) Stop(t testing.TB) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done:
		if p.Err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", p.Err, p.Logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit within 20 s of SIGTERM\n%s", p.Logs)
	}
}

// Kill ends the process with SIGKILL, as a power cut or the OOM killer would.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.Done
}

// Buffer is a bytes.Buffer safe for the process writing while a failing
// test reads.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Main builds the binary into *binary, runs the package's tests and
// removes the build: the TestMain of every package that runs the binary.
func Main(m *testing.M, root string, binary *string) {
	bin, cleanup, err := Build(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*binary = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// WaitFor polls cond every 20 ms until it holds, and fails the test when
// limit passes first: the process under test works in the background.
func WaitFor(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// OpenStore opens a database at path with its commit loop running, for
// tests that read or prepare a file in process; the returned function
// stops the loop and closes the file.
func OpenStore(t testing.TB, path string) (*db.Store, func()) {
	t.Helper()
	store, err := db.Open(path, db.Options{SiteID: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go store.Run(ctx)
	return store, func() {
		cancel()
		if err := store.Close(); err != nil {
			t.Error(err)
		}
	}
}
