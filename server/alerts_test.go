package server

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestAlertsWarnOnChangesOnly feeds the watcher a scripted forwarder: each
// change is logged once, a steady state is not repeated.
func TestAlertsWarnOnChangesOnly(t *testing.T) {
	e := newOpsEnv(t, opsConfig{})
	if a := e.call(`{"channelId":"al-1"}`); a.code != 200 {
		t.Fatal(a.raw)
	}
	var logs bytes.Buffer
	up := UpstreamStatus{Configured: true}
	var lines []string
	al := NewAlerts(e.store, func() UpstreamStatus { return up }, slog.New(slog.NewTextHandler(&logs, nil)),
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
	e := newOpsEnv(t, opsConfig{})
	if a := e.call(`{"channelId":"ag-1"}`); a.code != 200 {
		t.Fatal(a.raw)
	}
	var logs bytes.Buffer
	var line string
	al := NewAlerts(e.store, nil, slog.New(slog.NewTextHandler(&logs, nil)), time.Hour, 0, func(s string) { line = s })
	al.check()
	if logs.Len() != 0 {
		t.Errorf("an air-gapped edge warned: %s", logs.String())
	}
	if line != "answering calls; air-gapped, 1 records kept for central" {
		t.Errorf("status line %q", line)
	}
}
