package crash

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func (e *edge) send(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// waitFor polls path until its body contains want.
func (e *edge) waitFor(t *testing.T, path, want string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body, err := e.get(path)
		if err == nil && code == 200 && strings.Contains(string(body), want) {
			return string(body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never contained %s; last %d %s %v", path, want, code, body, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The serve command runs the routing timers: an unanswered ring times out
// in the real binary, and a waiting call survives SIGKILL and is offered
// after the restart.
func TestRoutingTimersAndCrash(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir)
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("[routing]\nring_timeout = \"1s\"\ntimer_interval = \"100ms\"\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	e := start(t, cfg)
	if code, body := e.send(t, "PATCH", "/api/mind/profile/1/routingStatus", `{"callRoutingStatus":"idle"}`); code != 200 {
		t.Fatalf("presence: %d %s", code, body)
	}
	code, body := e.send(t, "POST", "/api/mind/telephony/callReceived", `{"routing":"native","channelId":"crash-ring"}`)
	if code != 200 {
		t.Fatalf("callReceived: %d %s", code, body)
	}
	e.waitFor(t, "/api/mind/telephony/getRouting?channelId=crash-ring", `"assignedUserId":1`)
	// Nobody answers: agent 1 becomes notResponding, the call waits again.
	e.waitFor(t, "/api/mind/telephony/routingAvailability?userId=1", `"callRoutingStatus":"notResponding"`)
	e.waitFor(t, "/api/mind/telephony/getRouting?channelId=crash-ring", `"status":"waitingForAgent"`)

	if err := e.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-e.Done
	e = start(t, cfg)
	e.waitFor(t, "/api/mind/telephony/getRouting?channelId=crash-ring", `"status":"waitingForAgent"`)
	if code, body := e.send(t, "PATCH", "/api/mind/profile/2/routingStatus", `{"callRoutingStatus":"idle"}`); code != 200 {
		t.Fatalf("presence after restart: %d %s", code, body)
	}
	e.waitFor(t, "/api/mind/telephony/getRouting?channelId=crash-ring", `"assignedUserId":2`)
}
