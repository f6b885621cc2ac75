package health

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/clock"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/internal/edgetest"
	"github.com/enneo-edge/enneo-edge/model"
)

// TestAlertsWarnOnChangesOnly feeds the watcher a scripted forwarder: each
// change is logged once, a steady state is not repeated.
func TestAlertsWarnOnChangesOnly(t *testing.T) {
	store := storeWithCall(t, "al-1")
	var logs bytes.Buffer
	up := Upstream{Configured: true}
	var lines []string
	al := NewAlerts(store, func() Upstream { return up }, slog.New(slog.NewTextHandler(&logs, nil)), nil,
		time.Hour, 0, func(s string) { lines = append(lines, s) })

	steps := []struct {
		name   string
		change func()
		want   []string // in the log this round
		not    []string
	}{
		{"backlog older than the limit", func() {}, []string{"level=WARN", "outbox backlog is getting old", "pending=1"}, nil},
		{"steady: nothing repeated", func() {}, nil, []string{"level="}},
		{"paused", func() { up.Paused, up.PauseReason = true, "401 from central" }, []string{"forwarding to central paused", `reason="401 from central"`}, []string{"getting old"}},
		{"dead letters", func() { up.DeadLetters = 3 }, []string{"dead-lettered", "new=3", "total=3"}, []string{"paused"}},
		{"more dead letters", func() { up.DeadLetters = 5 }, []string{"new=2", "total=5"}, nil},
		{"resumed", func() { up.Paused = false }, []string{"level=INFO", "forwarding to central resumed"}, []string{"dead-lettered"}},
	}
	for _, st := range steps {
		logs.Reset()
		st.change()
		al.check()
		got := logs.String()
		for _, w := range st.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: log lacks %q:\n%s", st.name, w, got)
			}
		}
		for _, n := range st.not {
			if strings.Contains(got, n) {
				t.Errorf("%s: log has %q:\n%s", st.name, n, got)
			}
		}
	}
	if len(lines) != len(steps) || !strings.Contains(lines[2], "forwarding PAUSED (401 from central), 1 pending") {
		t.Errorf("status lines: %q", lines)
	}
}

func TestAlertsAirGappedIsQuiet(t *testing.T) {
	store := storeWithCall(t, "ag-1")
	var logs bytes.Buffer
	var line string
	al := NewAlerts(store, nil, slog.New(slog.NewTextHandler(&logs, nil)), nil, time.Hour, 0, func(s string) { line = s })
	al.check()
	if logs.Len() != 0 {
		t.Errorf("an air-gapped edge warned: %s", logs.String())
	}
	if line != "answering calls; air-gapped, 1 records kept for central" {
		t.Errorf("status line %q", line)
	}
}

// storeWithCall is a real database with one call received, so the outbox
// holds one pending record.
func storeWithCall(t *testing.T, channelID string) *db.Store {
	t.Helper()
	store, closeStore := edgetest.OpenStore(t, filepath.Join(t.TempDir(), "edge.db"))
	t.Cleanup(closeStore)
	if _, err := store.CreateCall(context.Background(), db.NewCall{Call: model.Call{Routing: model.RoutingNone,
		Direction: model.DirectionIn, Status: model.StatusOpen, ChannelID: channelID}}); err != nil {
		t.Fatal(err)
	}
	return store
}

// Run looks once at start and then once per interval of its clock.
func TestAlertsRunOnTheirClock(t *testing.T) {
	store := storeWithCall(t, "run-1")
	clk := clock.NewManual(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC))
	lines := make(chan string, 10)
	al := NewAlerts(store, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), clk, time.Minute, time.Hour, func(s string) { lines <- s })
	ctx, cancel := context.WithCancel(context.Background())
	go al.Run(ctx)
	defer func() { cancel(); al.Close() }()
	<-lines // the first round, at once
	edgetest.WaitFor(t, "the alerts to wait on their clock", 10*time.Second, func() bool { return clk.Waiting(clk.Now().Add(time.Minute)) })
	clk.Advance(time.Minute)
	select {
	case <-lines:
	case <-time.After(10 * time.Second):
		t.Fatal("no second round after the clock moved one interval")
	}
}
