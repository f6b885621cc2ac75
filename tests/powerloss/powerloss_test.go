// Package powerloss runs the real enneo-edge binary on a fault file system
// (internal/faultfs), cuts the power while calls arrive and checks that
// every acknowledged ticket is on the disk that is left.
package powerloss

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
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
	"github.com/enneo-edge/enneo-edge/internal/faultfs"
)

const token = "powerloss-test-token-0123456789"

var binary string

func TestMain(m *testing.M) { edgetest.Main(m, "../..", &binary) }

// ack is one 200 a client saw: the ticket must exist after the power loss.
type ack struct {
	channelID string
	ticketID  int64
}

// writeConfig writes a config for a database edge.db in dataDir into
// dir/name.
func writeConfig(t *testing.T, dir, name, dataDir string, wal bool) string {
	t.Helper()
	path := filepath.Join(dir, name)
	cfg := fmt.Sprintf(`[server]
listen = "127.0.0.1:0"
[storage]
path = %q
wal = %v
[site]
id = 3
[auth]
tokens = [%q]
`, filepath.Join(dataDir, "edge.db"), wal, token)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func post(client *http.Client, url, body string) (int, []byte, error) {
	req, err := http.NewRequest("POST", url+"/api/mind/telephony/callReceived", strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func get(url, path string) (int, []byte, error) {
	req, err := http.NewRequest("GET", url+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// load sends calls from several clients until stop closes and returns
// every acknowledged one.
func load(url string, clients int, prefix string, stop <-chan struct{}) []ack {
	var (
		mu   sync.Mutex
		acks []ack
		wg   sync.WaitGroup
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
				body := fmt.Sprintf(`{"routing":"native","channelId":%q,"phone":"+4930%07d","transcript":[{"speaker":"customer","message":"hello %d"}]}`, ch, i, i)
				code, b, err := post(client, url, body)
				if err != nil || code != 200 {
					continue // no answer or an error: not acknowledged
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
		})
	}
	wg.Wait()
	return acks
}

func TestPowerLossKeepsAcknowledgedTickets(t *testing.T) {
	faultfs.Require(t)
	for _, wal := range []bool{true, false} {
		t.Run(fmt.Sprintf("wal=%v", wal), func(t *testing.T) { powerLoss(t, wal) })
	}
}

// powerLoss runs cycles of: mount faultfs over the data directory, start
// the edge on the mount, send calls, cut the power at a random moment
// (Cut or CutTorn, then SIGKILL), unmount. Then it starts the edge on the data
// directory itself and looks up every acknowledged ticket.
func powerLoss(t *testing.T, wal bool) {
	dir, data, mnt := t.TempDir(), t.TempDir(), t.TempDir()
	onMount := writeConfig(t, dir, "mount.toml", mnt, wal)
	onDisk := writeConfig(t, dir, "disk.toml", data, wal)
	var all []ack
	const cycles = 3
	for cycle := range cycles {
		fsys, err := faultfs.Mount(data, mnt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = fsys.Unmount() }) // after the edge's kill (cleanups run last first)
		e := edgetest.Start(t, binary, onMount)
		stop := make(chan struct{})
		var acks []ack
		done := make(chan struct{})
		go func() { acks = load(e.URL, 6, fmt.Sprintf("p%d", cycle), stop); close(done) }()
		// Anywhere from the first calls to a few hundred commits in,
		// at a moment with unsynced writes when one comes within 200 ms
		// (without the log, bbolt's own fsyncs leave short windows).
		time.Sleep(time.Duration(100+rand.IntN(1100)) * time.Millisecond)
		for deadline := time.Now().Add(200 * time.Millisecond); time.Now().Before(deadline); {
			if p := fsys.Pending(); p.Files+p.Names > 0 {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
		// Cut first: from here no write of the process reaches the
		// disk, so an answer it still sends was synced before. The
		// first cycle loses everything unsynced; the others keep a
		// random part of it, as the page cache may have written it.
		how := "everything unsynced lost"
		if cycle == 0 {
			err = fsys.Cut()
		} else {
			seed := rand.Uint64()
			how = fmt.Sprintf("torn, seed %d", seed)
			err = fsys.CutTorn(seed)
		}
		if err != nil {
			t.Fatal(err)
		}
		// The process may have stopped already on its first EIO.
		_ = e.Cmd.Process.Signal(syscall.SIGKILL)
		<-e.Done
		close(stop)
		<-done
		if err := fsys.Unmount(); err != nil {
			t.Fatal(err)
		}
		t.Logf("cycle %d: %d calls acknowledged before the power loss (%s); it undid %+v", cycle, len(acks), how, fsys.Dropped())
		all = append(all, acks...)
	}

	if len(all) == 0 {
		t.Fatal("no call was acknowledged before any of the power losses")
	}
	e := edgetest.Start(t, binary, onDisk)
	seen := map[int64]string{}
	for _, a := range all {
		code, body, err := get(e.URL, fmt.Sprintf("/edge/v1/tickets/%d", a.ticketID))
		if err != nil || code != 200 {
			t.Fatalf("acknowledged ticket %d (%s) lost in the power loss: %d %s %v\n%s", a.ticketID, a.channelID, code, body, err, e.Logs)
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
	// The PBX retrying an acknowledged call gets the same ticket.
	last := all[len(all)-1]
	code, body, err := post(http.DefaultClient, e.URL, fmt.Sprintf(`{"routing":"native","channelId":%q}`, last.channelID))
	if err != nil || code != 200 {
		t.Fatalf("retry: %d %s %v", code, body, err)
	}
	var retry struct {
		TicketID int64 `json:"ticketId"`
	}
	if err := json.Unmarshal(body, &retry); err != nil || retry.TicketID != last.ticketID {
		t.Fatalf("retry of %s got ticket %d (%s), want %d", last.channelID, retry.TicketID, body, last.ticketID)
	}
	e.Stop(t)
	out, err := exec.Command(binary, "check", "-config", onDisk).CombinedOutput()
	if err != nil || strings.Contains(string(out), "warning") {
		t.Fatalf("check after the power losses: %v\n%s", err, out)
	}
	t.Logf("%d acknowledged tickets all present; %s", len(all), out)
}
