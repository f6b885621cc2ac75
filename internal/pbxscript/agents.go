package pbxscript

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// Getter decodes the 200 answer of GET path into v and fails the test
// otherwise; it runs on the test's own goroutine.
type Getter func(path string, v any)

// agents is GET /edge/v1/agents as the script's checks read it.
type agents struct {
	Agents []struct {
		ID       int64 `json:"id"`
		Presence struct {
			Call string `json:"callRoutingStatus"`
		} `json:"presence"`
	} `json:"agents"`
}

// WaitIdle waits until no agent is in a timed state (after-call work, or
// ringing: beingConnected), which the edge's timers end: then nothing
// changes at the edge by itself any more and central can be compared with
// it. It fails the test after 30 s.
func WaitIdle(t testing.TB, get Getter) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var v agents
		get("/edge/v1/agents", &v)
		busy := ""
		for _, a := range v.Agents {
			if a.Presence.Call == "acw" || a.Presence.Call == "beingConnected" {
				busy = fmt.Sprintf("agent %d is %s", a.ID, a.Presence.Call)
			}
		}
		if busy == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("agents still in after-call work or ringing after 30 s: %s", busy)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Presence is every agent's call routing status at the edge, by agent ID,
// to compare with central's.
func Presence(get Getter) map[int64]string {
	var v agents
	get("/edge/v1/agents", &v)
	m := make(map[int64]string, len(v.Agents))
	for _, a := range v.Agents {
		m[a.ID] = a.Presence.Call
	}
	return m
}

// Calls is how many calls a test drives: full, or short under -short, or
// the number in the environment variable env when it holds one (a longer
// run by hand).
func Calls(full, short int, env string) int {
	calls := full
	if testing.Short() {
		calls = short
	}
	if v, err := strconv.Atoi(os.Getenv(env)); err == nil && v > 0 {
		calls = v
	}
	return calls
}
