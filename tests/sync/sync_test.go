package sync

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/internal/edgetest"
)

const edgeSite = 4

// TestOutageThenRecovery: central is unreachable while 5,000 calls are
// accepted and follow-ups are queued; when it comes back, every record
// arrives once, in order per ticket, follow-ups naming central's tickets.
func TestOutageThenRecovery(t *testing.T) {
	rec := newRecorder(t) // down: its port refuses connections
	dir := t.TempDir()
	cfg := writeConfig(t, config{dir: dir, site: edgeSite, token: edgeToken, upstreamURL: rec.url()})
	edge := start(t, cfg, edgeToken)

	const calls = 5000
	acks := send(t, edge, calls, 8, "out", nativeCall)
	if len(acks) != calls {
		t.Fatalf("%d calls acknowledged, want %d", len(acks), calls)
	}
	v := edge.outbox(t)
	if v.Outbox.Pending != calls || v.Forwarder == nil || v.Forwarder.LastError == "" {
		t.Fatalf("during the outage: pending %d, forwarder %+v", v.Outbox.Pending, v.Forwarder)
	}
	edge.stop(t)

	// Follow-ups for every 50th call, queued while central is still away
	// (through the store: their endpoints are another issue's).
	followed := map[string]int64{}
	store, err := db.Open(filepath.Join(dir, "edge.db"), db.Options{SiteID: edgeSite})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go store.Run(ctx)
	for i := 0; i < calls; i += 50 {
		ch := fmt.Sprintf("out-%d", i)
		for _, kind := range []string{db.KindAgentConnected, db.KindCallCompleted} {
			body := fmt.Sprintf(`{"ticketId":%d,"channelId":%q}`, acks[ch], ch)
			if _, err := store.AppendOutbox(ctx, db.OutboxRecord{Kind: kind, TicketID: acks[ch], Body: []byte(body)}); err != nil {
				t.Fatal(err)
			}
		}
		followed[ch] = acks[ch]
	}
	cancel()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	edge = start(t, cfg, edgeToken)
	rec.up(t)
	start := time.Now()
	edge.waitDrained(t, 60*time.Second)
	t.Logf("%d records drained in %s after central came back", calls+2*len(followed), time.Since(start).Round(time.Millisecond))

	perChan := map[string][]arrival{}
	for _, a := range rec.got() {
		perChan[a.channel] = append(perChan[a.channel], a)
	}
	if len(perChan) != calls {
		t.Fatalf("central heard of %d channels, want %d", len(perChan), calls)
	}
	for ch := range acks {
		got := perChan[ch]
		var kinds []string
		for _, a := range got {
			kinds = append(kinds, a.kind)
		}
		want := "[callReceived]"
		if _, ok := followed[ch]; ok {
			want = "[callReceived agentConnected callCompleted]"
		}
		if fmt.Sprint(kinds) != want {
			t.Fatalf("%s arrived as %v, want %s (in order, once each)", ch, kinds, want)
		}
		central := got[0].ticketID
		for _, a := range got[1:] {
			if a.ticketID != central {
				t.Fatalf("%s of %s named ticket %d, central's is %d (local %d)", a.kind, ch, a.ticketID, central, acks[ch])
			}
		}
	}
	// The central ID is stored beside the local one.
	for ch, local := range followed {
		var tv struct {
			Ticket struct {
				CentralID  int64 `json:"centralId"`
				Forwarding struct {
					State string `json:"state"`
				} `json:"forwarding"`
			} `json:"ticket"`
		}
		edge.get(t, fmt.Sprintf("/edge/v1/tickets/%d", local), &tv)
		if tv.Ticket.CentralID != perChan[ch][0].ticketID || tv.Ticket.Forwarding.State != "synced" {
			t.Fatalf("ticket %d: %+v, want central %d, synced", local, tv.Ticket, perChan[ch][0].ticketID)
		}
	}
}

// TestRefusedRecordsAreDeadLettered: central answers 422 for some calls;
// those are dead-lettered after max_attempts, the rest delivered; the
// operator sees why with `outbox list` and replays with `outbox retry-all`.
func TestRefusedRecordsAreDeadLettered(t *testing.T) {
	rec := newRecorder(t)
	rec.setRefuse(func(kind, ch string) int {
		if strings.HasPrefix(ch, "bad-") {
			return http.StatusUnprocessableEntity
		}
		return 0
	})
	rec.up(t)
	dir := t.TempDir()
	cfg := writeConfig(t, config{dir: dir, site: edgeSite, token: edgeToken, upstreamURL: rec.url()})
	edge := start(t, cfg, edgeToken)

	send(t, edge, 40, 4, "good", nativeCall)
	send(t, edge, 10, 4, "bad", nativeCall)
	edgetest.WaitFor(t, "40 delivered and 10 dead letters", 30*time.Second, func() bool {
		v := edge.outbox(t)
		return v.Outbox.Pending == 0 && v.Outbox.DeadLetters == 10
	})
	if n := rec.count(); n != 40 {
		t.Fatalf("central accepted %d calls, want 40", n)
	}
	v := edge.outbox(t)
	for _, d := range v.DeadLetters {
		if d.Status != 422 || d.Attempts != 3 || !strings.Contains(d.Reason, "central answered 422: ") ||
			!strings.Contains(string(d.Record.Body), `"channelId":"bad-`) {
			t.Fatalf("dead letter %+v", d)
		}
	}

	out, err := exec.Command(binary, "outbox", "-config", cfg, "-url", edge.URL, "list").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "dead letters: 10") || !strings.Contains(string(out), "central answered 422") {
		t.Fatalf("outbox list: %v\n%s", err, out)
	}
	rec.setRefuse(nil)
	out, err = exec.Command(binary, "outbox", "-config", cfg, "-url", edge.URL, "retry-all").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "10 record(s) back in the outbox") {
		t.Fatalf("outbox retry-all: %v\n%s", err, out)
	}
	edge.waitDrained(t, 30*time.Second)
	seen := map[string]int{}
	for _, a := range rec.got() {
		seen[a.channel]++
	}
	if len(seen) != 50 || rec.count() != 50 {
		t.Fatalf("after retry: %d channels in %d requests, want 50 once each", len(seen), rec.count())
	}
	out, err = exec.Command(binary, "outbox", "-config", cfg, "-url", edge.URL, "retry", "3").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "record 3 is neither a dead letter nor pending") {
		t.Fatalf("retry of a delivered record: %v\n%s", err, out)
	}
}

// TestUnauthorizedPausesTheQueue: a 401 pauses everything, dead-letters
// nothing, says so in the status; when the token works again it drains.
func TestUnauthorizedPausesTheQueue(t *testing.T) {
	rec := newRecorder(t)
	rec.tokenOK.Store(false)
	rec.up(t)
	dir := t.TempDir()
	cfg := writeConfig(t, config{dir: dir, site: edgeSite, token: edgeToken, upstreamURL: rec.url()})
	edge := start(t, cfg, edgeToken)

	send(t, edge, 30, 4, "tok", nativeCall)
	edgetest.WaitFor(t, "the pause", 10*time.Second, func() bool {
		v := edge.outbox(t)
		return v.Outbox.Paused != nil && v.Forwarder != nil && v.Forwarder.Paused
	})
	time.Sleep(300 * time.Millisecond) // a few paused_retry periods: probes, nothing else
	v := edge.outbox(t)
	if v.Outbox.Paused.Status != 401 || !strings.Contains(v.Outbox.Paused.Reason, "token expired") ||
		v.Outbox.DeadLetters != 0 || v.Outbox.Pending != 30 {
		t.Fatalf("while paused: %+v paused %+v", v.Outbox, v.Outbox.Paused)
	}
	if !strings.Contains(edge.Logs.String(), "PAUSED") {
		t.Fatalf("the pause is not in the log:\n%s", edge.Logs)
	}
	rec.tokenOK.Store(true)
	edge.waitDrained(t, 30*time.Second)
	v = edge.outbox(t)
	if v.Outbox.Paused != nil || v.Outbox.DeadLetters != 0 || rec.count() != 30 {
		t.Fatalf("after the token works: %+v, central got %d", v.Outbox, rec.count())
	}
}

// load sends calls from clients goroutines until stop closes and returns
// the acknowledged ones (channelId -> ticket); errors are calls the edge
// did not acknowledge (it was killed).
func load(p *proc, clients int, prefix string, stop <-chan struct{}) map[string]int64 {
	var (
		mu   gosync.Mutex
		acks = map[string]int64{}
		wg   gosync.WaitGroup
	)
	for c := range clients {
		wg.Go(func() {
			client := &http.Client{Timeout: 5 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ch := fmt.Sprintf("%s-c%d-%d", prefix, c, i)
				if id, err := p.call(client, nativeCall(ch, i)); err == nil {
					mu.Lock()
					acks[ch] = id
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return acks
}

// TestSIGKILLCyclesHubExactlyOnce kills the edge at random moments while
// calls arrive and the forwarder runs; after the last restart and drain
// the hub holds every acknowledged ticket exactly once.
func TestSIGKILLCyclesHubExactlyOnce(t *testing.T) {
	hubDir := t.TempDir()
	hub := start(t, writeConfig(t, config{dir: hubDir, site: 90, token: hubToken}), hubToken)
	dir := t.TempDir()
	cfg := writeConfig(t, config{dir: dir, site: edgeSite, token: edgeToken, upstreamURL: hub.URL + "/api/mind"})

	acks := map[string]int64{}
	const cycles = 6
	for cycle := range cycles {
		edge := start(t, cfg, edgeToken)
		stop := make(chan struct{})
		done := make(chan map[string]int64)
		go func() { done <- load(edge, 6, fmt.Sprintf("k%d", cycle), stop) }()
		time.Sleep(time.Duration(200+rand.IntN(600)) * time.Millisecond)
		edge.kill(t)
		close(stop)
		got := <-done
		if len(got) == 0 {
			t.Fatalf("cycle %d: nothing acknowledged before the kill\n%s", cycle, edge.Logs)
		}
		for ch, id := range got {
			acks[ch] = id
		}
		t.Logf("cycle %d: %d calls acknowledged before SIGKILL", cycle, len(got))
	}
	edge := start(t, cfg, edgeToken)
	edge.waitDrained(t, 60*time.Second)
	edge.stop(t)
	hub.stop(t)
	verifyExactlyOnce(t, filepath.Join(dir, "edge.db"), filepath.Join(hubDir, "edge.db"), acks)
}

// TestAmbiguousAnswersHubDeduplicates puts a proxy between edge and hub
// that lets the hub commit and then drops the connection on 20% of
// requests: the edge cannot know, sends again, and the hub answers the
// known channelId with its first ticket. Nothing is created twice.
func TestAmbiguousAnswersHubDeduplicates(t *testing.T) {
	hubDir := t.TempDir()
	hub := start(t, writeConfig(t, config{dir: hubDir, site: 91, token: hubToken}), hubToken)
	px := newDroppingProxy(t, hub.URL, 0.2)
	dir := t.TempDir()
	cfg := writeConfig(t, config{dir: dir, site: edgeSite, token: edgeToken, upstreamURL: px.url + "/api/mind"})
	edge := start(t, cfg, edgeToken)

	acks := send(t, edge, 1000, 8, "amb", nativeCall)
	edge.waitDrained(t, 60*time.Second)
	if px.dropped.Load() < 50 {
		t.Fatalf("the proxy dropped only %d of %d answers", px.dropped.Load(), px.forwarded.Load())
	}
	t.Logf("proxy forwarded %d requests and dropped %d answers after the hub committed", px.forwarded.Load(), px.dropped.Load())
	edge.stop(t)
	hub.stop(t)
	verifyExactlyOnce(t, filepath.Join(dir, "edge.db"), filepath.Join(hubDir, "edge.db"), acks)
}

// verifyExactlyOnce opens both stopped databases: every edge ticket has a
// central ID naming a hub ticket of the same channel, no two share one,
// the hub holds nothing else, and every acknowledged call is among them.
func verifyExactlyOnce(t *testing.T, edgePath, hubPath string, acks map[string]int64) {
	t.Helper()
	edgeDB, err := db.Open(edgePath, db.Options{SiteID: edgeSite})
	if err != nil {
		t.Fatal(err)
	}
	defer edgeDB.Close()
	hubDB, err := db.Open(hubPath, db.Options{SiteID: 90})
	if err != nil {
		t.Fatal(err)
	}
	defer hubDB.Close()
	edgeCount, _ := edgeDB.TicketCount()
	hubCount, _ := hubDB.TicketCount()
	central := map[int64]string{}
	for ch, local := range acks {
		tk, _, err := edgeDB.Ticket(local)
		if err != nil || tk.ChannelID != ch {
			t.Fatalf("acknowledged %s (ticket %d) not at the edge: %v", ch, local, err)
		}
	}
	first := int64(1_000_000_000_000_000 + edgeSite*100_000_000_000)
	for n, found := int64(1), 0; found < edgeCount; n++ {
		if n > int64(edgeCount)+1000 {
			t.Fatalf("found %d of %d edge tickets", found, edgeCount)
		}
		tk, _, err := edgeDB.Ticket(first + n)
		if err != nil {
			continue
		}
		found++
		if tk.CentralID == 0 || tk.Forwarding.State != "synced" {
			t.Fatalf("edge ticket %d (%s) not synced: %+v", tk.ID, tk.ChannelID, tk.Forwarding)
		}
		if prev, dup := central[tk.CentralID]; dup {
			t.Fatalf("hub ticket %d stands for %s and %s", tk.CentralID, prev, tk.ChannelID)
		}
		central[tk.CentralID] = tk.ChannelID
		ht, _, err := hubDB.Ticket(tk.CentralID)
		if err != nil || ht.ChannelID != tk.ChannelID {
			t.Fatalf("edge ticket %d (%s): hub ticket %d is %v %v", tk.ID, tk.ChannelID, tk.CentralID, ht, err)
		}
	}
	if hubCount != edgeCount {
		t.Fatalf("hub holds %d tickets for %d edge tickets: something was created twice", hubCount, edgeCount)
	}
	t.Logf("%d acknowledged, %d edge tickets, %d hub tickets: exactly once", len(acks), edgeCount, hubCount)
}

// TestEdgePullsAgentsFromAHub: a hub enneo-edge answers the two pull
// endpoints in the shapes an edge reads, so an edge behind a hub routes on
// the hub's agents and skills.
func TestEdgePullsAgentsFromAHub(t *testing.T) {
	hub := start(t, writeConfig(t, config{dir: t.TempDir(), site: 91, token: hubToken}), hubToken)
	req, err := http.NewRequest("PUT", hub.URL+"/edge/v1/agents/31", strings.NewReader(`{"name":"Hub agent","skillTagIds":[4,5]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+hubToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT agent on the hub: %v %v", err, resp)
	}
	resp.Body.Close()
	edge := start(t, writeConfig(t, config{dir: t.TempDir(), site: edgeSite, token: edgeToken,
		upstreamURL: hub.URL + "/api/mind", extra: "pull_interval = \"1s\"\n"}), edgeToken)
	edgetest.WaitFor(t, "the hub's agent at the edge", 10*time.Second, func() bool {
		var v struct {
			Agents []struct {
				ID     int64   `json:"id"`
				Name   string  `json:"name"`
				Skills []int64 `json:"skillTagIds"`
				Source string  `json:"source"`
			} `json:"agents"`
		}
		edge.get(t, "/edge/v1/agents", &v)
		return len(v.Agents) == 1 && v.Agents[0].ID == 31 && v.Agents[0].Name == "Hub agent" &&
			fmt.Sprint(v.Agents[0].Skills) == "[4 5]" && v.Agents[0].Source == "central"
	})
	if strings.Contains(edge.Logs.String(), "pull from central failed") {
		t.Errorf("pull from the hub failed:\n%s", edge.Logs)
	}
}
