package crash

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/edgetest"
)

// anyListenLine also matches the https:// line of a TLS listener.

// startEnv is start with extra environment (a fake NOTIFY_SOCKET).
func startEnv(t *testing.T, cfg string, env []string) *edge {
	t.Helper()
	return &edge{edgetest.Start(t, binary, cfg, env...)}
}

// notifySocket is a fake systemd notify socket.
func notifySocket(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, path
}

func readDatagram(conn *net.UnixConn, wait time.Duration) (string, error) {
	buf := make([]byte, 4096)
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	n, err := conn.Read(buf)
	return string(buf[:n]), err
}

// TestSystemdReadyAfterListenerAndWatchdog runs the binary under a fake
// systemd: READY=1 arrives only once the listener answers, watchdog pings
// follow, and SIGTERM says STOPPING=1 and exits 0.
func TestSystemdReadyAfterListenerAndWatchdog(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir)
	conn, sock := notifySocket(t)
	e := startEnv(t, cfg, []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=400000"})
	msg, err := readDatagram(conn, 20*time.Second)
	if err != nil || msg != "READY=1" {
		t.Fatalf("first notification %q, %v; want READY=1\n%s", msg, err, e.Logs)
	}
	// READY means the listener works now, not soon.
	if code, body, err := e.get("/readyz"); err != nil || code != 200 {
		t.Fatalf("readyz right after READY=1: %d %s %v", code, body, err)
	}
	sawStatus := false
	for pings := 0; pings < 2 || !sawStatus; {
		msg, err := readDatagram(conn, 20*time.Second)
		switch {
		case err != nil:
			t.Fatalf("want watchdog pings and a STATUS= line for systemctl status: %v\n%s", err, e.Logs)
		case strings.HasPrefix(msg, "STATUS="):
			sawStatus = true
		case msg == "WATCHDOG=1":
			pings++
		default:
			t.Fatalf("unexpected notification %q", msg)
		}
	}
	if err := e.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-e.Done
	if e.Err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", e.Err, e.Logs)
	}
	sawStopping := false
	for {
		msg, err := readDatagram(conn, 100*time.Millisecond)
		if err != nil {
			break
		}
		sawStopping = sawStopping || msg == "STOPPING=1"
	}
	if !sawStopping {
		t.Error("no STOPPING=1 at shutdown")
	}
}

// makeDatabase runs the binary to create a real database with tickets and
// stops it cleanly.
func makeDatabase(t *testing.T, dir string) (cfg, path string) {
	t.Helper()
	cfg = writeConfig(t, dir)
	e := start(t, cfg)
	client := &http.Client{Timeout: 5 * time.Second}
	for i := range 300 {
		resp, b, err := e.post(client, fmt.Sprintf(`{"routing":"native","channelId":"db-%d","transcript":[{"speaker":"customer","message":%q}]}`, i, strings.Repeat("t", 300)))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("call: %v %s", err, b)
		}
	}
	_ = e.Cmd.Process.Signal(syscall.SIGTERM)
	<-e.Done
	if e.Err != nil {
		t.Fatalf("stop: %v\n%s", e.Err, e.Logs)
	}
	return cfg, filepath.Join(dir, "edge.db")
}

func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestCorruptDatabaseRefusedUntouched damages the file in several ways:
// serve must refuse to start with a message naming the file and the
// command to run, send no READY, and leave every byte as it was; check
// must say what is wrong without a crash dump.
func TestCorruptDatabaseRefusedUntouched(t *testing.T) {
	cfg, path := makeDatabase(t, t.TempDir())
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	tests := []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"both meta pages", func(b []byte) []byte {
			for i := 16; i < 2*page; i++ {
				b[i] = 0xA5
			}
			return b
		}},
		{"page headers overwritten", func(b []byte) []byte {
			for p := 2; p*page < len(b); p++ {
				copy(b[p*page:], "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8")
			}
			return b
		}},
		{"truncated", func(b []byte) []byte { return b[:len(b)/3] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(path, tt.damage(append([]byte(nil), orig...)), 0o600); err != nil {
				t.Fatal(err)
			}
			before := sum(t, path)
			conn, sock := notifySocket(t)
			cmd := exec.Command(binary, "serve", "-config", cfg)
			cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("serve started on a damaged file:\n%s", out)
			}
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Errorf("serve exit %v, want status 1", err)
			}
			for _, want := range []string{path, "enneo-edge check " + path, "left untouched"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("serve output lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(string(out), "goroutine ") {
				t.Errorf("serve printed a crash dump:\n%s", out)
			}
			if msg, err := readDatagram(conn, 100*time.Millisecond); err == nil {
				t.Errorf("a damaged file still notified systemd: %q", msg)
			}
			out, err = exec.Command(binary, "check", "-config", cfg).CombinedOutput()
			if err == nil || !strings.Contains(string(out), path) || strings.Contains(string(out), "goroutine ") {
				t.Errorf("check on a damaged file: %v\n%s", err, out)
			}
			if sum(t, path) != before {
				t.Error("the damaged file was changed")
			}
		})
	}
}

// acks collects acknowledged calls as they happen, so a test can take the
// set acknowledged before a moment.
type acks struct {
	mu   sync.Mutex
	list []ack
}

func (a *acks) add(x ack) { a.mu.Lock(); a.list = append(a.list, x); a.mu.Unlock() }

func (a *acks) snapshot() []ack {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]ack(nil), a.list...)
}

func loadInto(e *edge, clients int, prefix string, stop <-chan struct{}, sink *acks) *sync.WaitGroup {
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 5 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ch := fmt.Sprintf("%s-c%d-%d", prefix, c, i)
				resp, b, err := e.post(client, fmt.Sprintf(`{"routing":"native","channelId":%q}`, ch))
				if err != nil || resp.StatusCode != 200 {
					continue
				}
				var a struct {
					TicketID int64 `json:"ticketId"`
				}
				if json.Unmarshal(b, &a) == nil && a.TicketID != 0 {
					sink.add(ack{ch, a.TicketID})
				}
			}
		}()
	}
	return &wg
}

// TestBackupUnderLoadRestores takes `enneo-edge backup` while 8 clients
// keep calling, then restores it as the README says: the copy passes check
// and a server started on it holds every ticket acknowledged before the
// backup began.
func TestBackupUnderLoadRestores(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir)
	e := start(t, cfg)
	stop := make(chan struct{})
	var sink acks
	wg := loadInto(e, 8, "bk", stop, &sink)
	deadline := time.Now().Add(20 * time.Second)
	for len(sink.snapshot()) < 300 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	before := sink.snapshot()
	backup := filepath.Join(t.TempDir(), "backup.db")
	out, err := exec.Command(binary, "backup", "-config", cfg, "-url", e.URL, backup).CombinedOutput()
	afterCount := len(sink.snapshot())
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if len(before) == 0 || afterCount == len(before) {
		t.Fatalf("no load around the backup: %d calls before, %d after", len(before), afterCount)
	}
	t.Logf("%s(%d calls acknowledged before the backup began, %d by its end)", out, len(before), afterCount)
	if _, err := os.Stat(backup + ".partial"); err == nil {
		t.Error("a .partial file was left behind")
	}
	if out, err := exec.Command(binary, "check", "-config", cfg, backup).CombinedOutput(); err != nil {
		t.Fatalf("check on the backup: %v\n%s", err, out)
	}

	// Restore: a fresh directory whose storage.path is the backup.
	rdir := t.TempDir()
	rcfg := writeConfig(t, rdir)
	raw, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rdir, "edge.db"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, rcfg)
	for _, a := range before {
		code, body, err := r.get(fmt.Sprintf("/edge/v1/tickets/%d", a.ticketID))
		if err != nil || code != 200 || !strings.Contains(string(body), a.channelID) {
			t.Fatalf("ticket %d (%s) acknowledged before the backup is missing after restore: %d %s %v", a.ticketID, a.channelID, code, body, err)
		}
	}
}

func TestBackupRefusesWithoutServer(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir)
	dest := filepath.Join(dir, "b.db")
	out, err := exec.Command(binary, "backup", "-config", cfg, "-url", "http://127.0.0.1:1", dest).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "is the server running?") {
		t.Fatalf("backup without a server: %v\n%s", err, out)
	}
	if _, err := os.Stat(dest); err == nil {
		t.Error("a backup file was created without a server")
	}
}
