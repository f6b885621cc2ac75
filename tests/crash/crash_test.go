package crash

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ack is one 200 a client saw: the ticket must exist after any crash.
type ack struct {
	channelID string
	ticketID  int64
}

// load sends calls from clients goroutines until stop closes and returns
// every acknowledged call.
func load(e *edge, clients int, prefix string, stop <-chan struct{}) []ack {
	var (
		mu   sync.Mutex
		acks []ack
		wg   sync.WaitGroup
	)
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
				body := fmt.Sprintf(`{"routing":"native","channelId":%q,"phone":"+4930%07d","transcript":[{"speaker":"customer","message":"hello %d"}]}`, ch, i, i)
				resp, b, err := e.post(client, body)
				if err != nil {
					continue // the process died mid-call: not acknowledged
				}
				if resp.StatusCode != 200 {
					continue
				}
				var a struct {
					TicketID int64 `json:"ticketId"`
				}
				if json.Unmarshal(b, &a) == nil && a.TicketID != 0 {
					mu.Lock()
					acks = append(acks, ack{ch, a.TicketID})
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return acks
}

func TestSIGKILLKeepsAcknowledgedTickets(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir)
	var all []ack
	const cycles = 3
	for cycle := range cycles {
		e := start(t, cfg)
		stop := make(chan struct{})
		var acks []ack
		done := make(chan struct{})
		go func() { acks = load(e, 8, fmt.Sprintf("k%d", cycle), stop); close(done) }()
		time.Sleep(time.Duration(300+rand.IntN(700)) * time.Millisecond)
		if err := e.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-e.Done
		close(stop)
		<-done
		if len(acks) == 0 {
			t.Fatalf("cycle %d: no call was acknowledged before the kill\n%s", cycle, e.Logs)
		}
		t.Logf("cycle %d: %d calls acknowledged before SIGKILL", cycle, len(acks))
		all = append(all, acks...)
	}

	e := start(t, cfg)
	seen := map[int64]string{}
	for _, a := range all {
		code, body, err := e.get(fmt.Sprintf("/edge/v1/tickets/%d", a.ticketID))
		if err != nil || code != 200 {
			t.Fatalf("acknowledged ticket %d (%s) lost after SIGKILL: %d %s %v", a.ticketID, a.channelID, code, body, err)
		}
		var v struct {
			Ticket struct {
				ChannelID string `json:"channelId"`
			} `json:"ticket"`
		}
		if err := json.Unmarshal(body, &v); err != nil || v.Ticket.ChannelID != a.channelID {
			t.Fatalf("ticket %d holds channel %q, want %q", a.ticketID, v.Ticket.ChannelID, a.channelID)
		}
		if prev, dup := seen[a.ticketID]; dup {
			t.Fatalf("ticket ID %d acknowledged twice (%s, %s)", a.ticketID, prev, a.channelID)
		}
		seen[a.ticketID] = a.channelID
	}
	// A PBX retrying an acknowledged call gets the same ticket.
	resp, body, err := e.post(http.DefaultClient, fmt.Sprintf(`{"routing":"native","channelId":%q}`, all[0].channelID))
	if err != nil || resp.StatusCode != 200 || !json.Valid(body) {
		t.Fatalf("retry: %v %v", resp, err)
	}
	var retry struct {
		TicketID int64 `json:"ticketId"`
	}
	_ = json.Unmarshal(body, &retry)
	if retry.TicketID != all[0].ticketID {
		t.Fatalf("retry of %s got ticket %d, want %d", all[0].channelID, retry.TicketID, all[0].ticketID)
	}

	// Graceful stop, then the database passes the structural check.
	if err := e.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if <-e.Done; e.Err != nil {
		t.Fatalf("SIGTERM: exit %v\n%s", e.Err, e.Logs)
	}
	out, err := exec.Command(binary, "check", "-config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("check after crashes: %v\n%s", err, out)
	}
	// The kept ticket count survived the crashes (and their log replays)
	// in step with the tickets.
	if strings.Contains(string(out), "warning") {
		t.Fatalf("check after crashes: %s", out)
	}
	t.Logf("%d acknowledged tickets all present; %s", len(all), out)
}

func TestSIGTERMFinishesInFlightCalls(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir)
	e := start(t, cfg)
	stop := make(chan struct{})
	var acks []ack
	done := make(chan struct{})
	go func() { acks = load(e, 8, "term", stop); close(done) }()
	time.Sleep(500 * time.Millisecond)
	if err := e.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.Done:
		if e.Err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", e.Err, e.Logs)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15 s of SIGTERM")
	}
	close(stop)
	<-done
	e2 := start(t, cfg)
	for _, a := range acks {
		if code, body, err := e2.get(fmt.Sprintf("/edge/v1/tickets/%d", a.ticketID)); err != nil || code != 200 {
			t.Fatalf("ticket %d acknowledged during shutdown is missing: %d %s %v", a.ticketID, code, body, err)
		}
	}
	t.Logf("%d calls acknowledged around SIGTERM, all stored", len(acks))
}
