package crash

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCommitErrorExitsNonZero makes the database file immutable under the
// running binary (chattr +i: every write to it then fails with EPERM, a
// real I/O error on the commit path). The call in flight must get a 5xx,
// never a 200, and the process must exit non-zero so systemd restarts it;
// after the fault is gone it starts again with every acknowledged ticket.
func TestCommitErrorExitsNonZero(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir)
	e := start(t, cfg)
	client := &http.Client{Timeout: 5 * time.Second}
	var acked []ack
	for i := range 20 {
		ch := fmt.Sprintf("pre-%d", i)
		resp, b, err := e.post(client, fmt.Sprintf(`{"channelId":%q}`, ch))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("call: %v %s", err, b)
		}
		var a struct {
			TicketID int64 `json:"ticketId"`
		}
		if err := json.Unmarshal(b, &a); err != nil || a.TicketID == 0 {
			t.Fatalf("answer %s: %v", b, err)
		}
		acked = append(acked, ack{ch, a.TicketID})
	}
	db := filepath.Join(dir, "edge.db")
	if out, err := exec.Command("chattr", "+i", db).CombinedOutput(); err != nil {
		t.Skipf("cannot make the file immutable here (needs root and ext4 or similar): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", db).Run() })

	resp, b, err := e.post(client, `{"channelId":"during"}`)
	if err == nil && resp.StatusCode == 200 {
		t.Fatalf("a call was acknowledged although its commit cannot have reached the disk: %s", b)
	}
	if err == nil && (resp.StatusCode != 500 || !strings.Contains(string(b), "storage failed; restart required")) {
		t.Errorf("call during the fault: %d %s", resp.StatusCode, b)
	}
	select {
	case <-e.Done:
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20 s after a failed commit\n%s", e.Logs)
	}
	if e.Err == nil {
		t.Fatalf("exit status 0 after a failed commit\n%s", e.Logs)
	}
	if !strings.Contains(e.Logs.String(), "commit failed") {
		t.Errorf("no log line says why it exited:\n%s", e.Logs)
	}

	if out, err := exec.Command("chattr", "-i", db).CombinedOutput(); err != nil {
		t.Fatalf("chattr -i: %v %s", err, out)
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatal(err)
	}
	r := start(t, cfg)
	for _, a := range acked {
		code, b, err := r.get(fmt.Sprintf("/edge/v1/tickets/%d", a.ticketID))
		if err != nil || code != 200 || !strings.Contains(string(b), a.channelID) {
			t.Fatalf("ticket %d (%s) after restart: %d %s %v", a.ticketID, a.channelID, code, b, err)
		}
	}
}
