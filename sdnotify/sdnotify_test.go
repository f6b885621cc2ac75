package sdnotify

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// fakeSystemd listens where systemd would and collects what the process
// sends.
func fakeSystemd(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return conn
}

// received returns every datagram already queued on conn.
func received(t *testing.T, conn *net.UnixConn) []string {
	t.Helper()
	var out []string
	buf := make([]byte, 1024)
	for {
		// Everything was sent before this is called; the deadline only
		// ends the read of an empty queue.
		_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := conn.Read(buf)
		if err != nil {
			return out
		}
		out = append(out, string(buf[:n]))
	}
}

func TestReadyAndStopping(t *testing.T) {
	conn := fakeSystemd(t)
	if err := Ready(); err != nil {
		t.Fatal(err)
	}
	if err := Stopping(); err != nil {
		t.Fatal(err)
	}
	got := received(t, conn)
	if len(got) != 2 || got[0] != "READY=1" || got[1] != "STOPPING=1" {
		t.Fatalf("sent %q", got)
	}
}

func TestNoWatchdogWithoutSystemd(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "")
	w, err := NewWatchdog(func(context.Context) error { return nil }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if w != nil || err != nil {
		t.Fatalf("watchdog without WATCHDOG_USEC: %v %v", w, err)
	}
}

// TestWatchdogFedOnlyWhileHealthy runs the health check through a fixed
// script of passes and failures: a ping follows each pass and none follows
// a failure.
func TestWatchdogFedOnlyWhileHealthy(t *testing.T) {
	tests := []struct {
		name   string
		script []bool // check outcomes in order; the run ends after the last
		pings  int
	}{
		{"always healthy", []bool{true, true, true}, 3},
		{"stops when health fails", []bool{true, true, false, false, false}, 2},
		{"resumes when health returns", []bool{true, false, false, true, true}, 3},
		{"never healthy", []bool{false, false}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := fakeSystemd(t)
			t.Setenv("WATCHDOG_USEC", "2000") // 2 ms: pings every 1 ms
			t.Setenv("WATCHDOG_PID", "")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls := 0
			check := func(context.Context) error {
				ok := tt.script[calls]
				calls++
				if !ok {
					return errors.New("database not writable")
				}
				return nil
			}
			w, err := NewWatchdog(func(c context.Context) error {
				if calls == len(tt.script) {
					cancel()
					return c.Err()
				}
				return check(c)
			}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil || w == nil {
				t.Fatalf("NewWatchdog: %v %v", w, err)
			}
			if w.Interval() != 2*time.Millisecond {
				t.Fatalf("interval %v", w.Interval())
			}
			go w.Run(ctx)
			w.Close()
			got := received(t, conn)
			if len(got) != tt.pings {
				t.Fatalf("sent %q, want %d pings", got, tt.pings)
			}
			for _, g := range got {
				if g != "WATCHDOG=1" {
					t.Fatalf("sent %q", g)
				}
			}
		})
	}
}
