package sync

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/edgetest"
)

// TestMeasureBacklog measures, for the operator's sizing notes, the edge's
// memory while a backlog grows during an outage and the rate at which the
// backlog then drains into a hub enneo-edge. It takes minutes, so it runs
// only with ENNEO_SYNC_MEASURE=1 (ENNEO_SYNC_CALLS, default 100000;
// ENNEO_SYNC_WORKERS, default 4):
//
//	ENNEO_SYNC_MEASURE=1 go test ./tests/sync -run Measure -v -timeout 30m
func TestMeasureBacklog(t *testing.T) {
	if os.Getenv("ENNEO_SYNC_MEASURE") != "1" {
		t.Skip("set ENNEO_SYNC_MEASURE=1 to measure backlog memory and drain rate")
	}
	calls := envInt("ENNEO_SYNC_CALLS", 100000)
	workers := envInt("ENNEO_SYNC_WORKERS", 4)
	hubAddr := edgetest.FreeAddr(t) // nothing listens yet: central is away
	dir := t.TempDir()
	cfg := writeConfig(t, config{dir: dir, site: edgeSite, token: edgeToken, workers: workers,
		upstreamURL: "http://" + hubAddr + "/api/mind"})
	edge := start(t, cfg, edgeToken)
	time.Sleep(500 * time.Millisecond)
	t.Logf("RSS at start: %s", rss(t, edge))

	marks := []int{10000, 50000, 100000, 200000}
	sent, began := 0, time.Now()
	for _, m := range marks {
		if m > calls {
			break
		}
		send(t, edge, m-sent, 8, fmt.Sprintf("m%d", m), nativeCall)
		sent = m
		v := edge.outbox(t)
		t.Logf("pending %6d: RSS %s (calls accepted at %.0f/s)", v.Outbox.Pending, rss(t, edge), float64(sent)/time.Since(began).Seconds())
	}

	hubDir := t.TempDir()
	hub := start(t, writeConfig(t, config{dir: hubDir, listen: hubAddr, site: 90, token: hubToken}), hubToken)
	_ = hub
	began = time.Now()
	peak := ""
	edgetest.WaitFor(t, "the drain", 30*time.Minute, func() bool {
		v := edge.outbox(t)
		if time.Since(began) > 10*time.Second && peak == "" {
			peak = rss(t, edge)
			t.Logf("10 s into the drain: %d pending, RSS %s", v.Outbox.Pending, peak)
		}
		return v.Outbox.Pending == 0
	})
	d := time.Since(began)
	t.Logf("drained %d records into the hub in %s: %.0f records/s with %d workers; RSS after %s",
		sent, d.Round(time.Millisecond), float64(sent)/d.Seconds(), workers, rss(t, edge))
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// rss reads the process's resident set size, its peak, and how much of it
// is heap and stacks (RssAnon) versus pages of the mmapped database file
// (RssFile, page cache the kernel can drop) from /proc.
func rss(t *testing.T, p *proc) string {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cur, peak, anon, file string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			cur = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			peak = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			anon = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			file = strings.TrimSpace(v)
		}
	}
	return fmt.Sprintf("%s (anon %s, db file %s; peak %s)", cur, anon, file, peak)
}
