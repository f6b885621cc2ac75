package central

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/edgetest"
	"github.com/enneo-edge/enneo-edge/internal/fakecentral"
	"github.com/enneo-edge/enneo-edge/internal/pbxscript"
)

// TestExactlyOnceAtACentralThatDoesNotDeduplicate: 2,000 calls of every
// kind, 20 % of central's answers ambiguous (too late, connection dropped,
// 500, each after applying; or applied only after the edge gave up), 3
// SIGKILLs of the edge. Central must have
// routed no call, hold one ticket per acknowledged call, have applied every
// follow-up once and in order on the right ticket, and end with every
// agent's presence equal to the edge's.
func TestExactlyOnceAtACentralThatDoesNotDeduplicate(t *testing.T) {
	calls := pbxscript.Calls(2000, 300, "EDGE_CENTRAL_CALLS")
	c := fakecentral.New(t, fakecentral.Options{Token: centralToken, Ambiguous: 0.2, Late: 450 * time.Millisecond})
	// The fake's slow commits come 450 ms after the request, 150 ms after
	// the edge's timeout; the lookup waits 600 ms more, so a loaded machine
	// has room before the check that the edge waited long enough.
	e := startEdge(t, edgeConfig(t, t.TempDir(), c.URL(), "pull_interval = \"0s\"\nlookup_delay = \"600ms\"\n"+pbxscript.RoutingConfig("5m")))
	base := e.URL
	pbxscript.SetupAgents(t, func(method, path, body string) edgetest.Answer {
		return e.must(t, http.DefaultClient, method, path, body)
	})

	var (
		done  atomic.Int64
		mu    gosync.Mutex
		acked = map[string]pbxscript.Kind{} // channelId -> kind
		next  = make(chan int)
		wg    gosync.WaitGroup
	)
	for w := range pbxscript.Workers {
		wg.Go(func() {
			// The worker's PBX talks to the one edge, retried across its
			// restarts; base is read once: the restarts replace e.Proc
			// while the workers send, on the same port.
			client := &http.Client{Timeout: 10 * time.Second}
			p := pbxscript.New(t, func(method, path, body string) edgetest.Answer {
				return send(t, t.Errorf, client, base, method, path, body)
			}, pbxscript.OwnAgent(w), nil)
			for i := range next {
				p.Call(i)
				mu.Lock()
				acked[pbxscript.Channel(i)] = pbxscript.KindOf(i)
				mu.Unlock()
				done.Add(1)
			}
		})
	}
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for k := 1; k <= 3; k++ {
			for done.Load() < int64(calls*k/4) {
				time.Sleep(10 * time.Millisecond)
			}
			e.Kill(t)
			time.Sleep(100 * time.Millisecond)
			e.restart(t)
		}
	}()
	for i := range calls {
		next <- i
	}
	close(next)
	wg.Wait()
	<-killed
	if t.Failed() {
		t.FailNow()
	}
	// After-call work ends on the edge's timer; its idle goes to central
	// too.
	get := func(path string, v any) { e.get(t, path, v) }
	pbxscript.WaitIdle(t, get)
	ob := e.waitDrained(t, 3*time.Minute)
	if ob.Outbox.DeadLetters != 0 {
		t.Fatalf("%d dead letters: %+v", ob.Outbox.DeadLetters, ob.DeadLetters)
	}

	snap := c.Snapshot()
	byChannel, presence, routed, bad, tricks := snap.ByChannel, snap.Presence, snap.Routed, snap.Bad, snap.Tricks
	t.Logf("ambiguous answers given: %v; lookups %d, found %d (since the last restart)", tricks, ob.Forwarder.Lookups, ob.Forwarder.Found)
	for _, trick := range []string{"late", "drop", "500", "slow"} {
		if tricks[trick] < calls/50 {
			t.Errorf("only %d %q answers: the test did not test ambiguity", tricks[trick], trick)
		}
	}
	if routed != 0 {
		t.Errorf("central routed %d calls the edge had routed", routed)
	}
	for _, b := range bad {
		t.Error(b)
	}
	if len(byChannel) != len(acked) {
		t.Errorf("central holds %d channels, %d calls were acknowledged", len(byChannel), len(acked))
	}
	for ch, kind := range acked {
		tks := byChannel[ch]
		if len(tks) != 1 {
			t.Errorf("channel %s (kind %d): %d tickets at central", ch, kind, len(tks))
			continue
		}
		if got := tks[0].Applied; !slices.Equal(got, kind.Applied()) {
			t.Errorf("channel %s (kind %d): central applied %v, want %v", ch, kind, got, kind.Applied())
		}
		body := tks[0].Body
		switch kind {
		case pbxscript.NativeRouted, pbxscript.NativeDeclined:
			if body["routing"] != "external" {
				t.Errorf("channel %s: native call forwarded as %v", ch, body["routing"])
			}
		case pbxscript.None:
			i, _ := strconv.Atoi(strings.TrimPrefix(ch, "c-"))
			if want := pbxscript.Identified(i); want != "" && fmt.Sprint(body["customerId"]) != want {
				t.Errorf("channel %s: customerId %v at central, the edge identified %s", ch, body["customerId"], want)
			} else if _, isNum := body["customerId"].(json.Number); want != "" && !isNum {
				t.Errorf("channel %s: customerId %#v is not a number", ch, body["customerId"])
			}
		}
	}
	atEdge := pbxscript.Presence(get)
	if len(atEdge) != pbxscript.RoutedAgents+pbxscript.Workers {
		t.Errorf("%d agents at the edge", len(atEdge))
	}
	for id, st := range atEdge {
		if presence[id] != st {
			t.Errorf("agent %d: %q at central, %q at the edge", id, presence[id], st)
		}
	}
}
