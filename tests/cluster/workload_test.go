package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/edgetest"
	"github.com/enneo-edge/enneo-edge/internal/pbxscript"
)

// kindProbe is the kind of the failover measurement's calls, beside the
// script's: callReceived only.
const kindProbe = pbxscript.NumKinds + 1

// applied is what central must have applied for a call of kind.
func applied(kind pbxscript.Kind) []string {
	if kind == kindProbe {
		return []string{"callReceived"}
	}
	return kind.Applied()
}

// routingConfig is the script's [routing] section for the cluster: an
// offered call rings 5 s at most.
func routingConfig() string { return pbxscript.RoutingConfig("5s") }

// acked is what the PBX side was told: the ticket of each acknowledged
// channelId and the call's kind.
type acked struct {
	mu      sync.Mutex
	tickets map[string]int64
	kinds   map[string]pbxscript.Kind
}

func newAcked() *acked {
	return &acked{tickets: map[string]int64{}, kinds: map[string]pbxscript.Kind{}}
}

// add records an acknowledged call; a second, different ticket for the same
// channelId is an error at once.
func (a *acked) add(t *testing.T, ch string, kind pbxscript.Kind, ticket int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if prev, ok := a.tickets[ch]; ok && prev != ticket {
		t.Errorf("channel %s acknowledged with ticket %d and then %d", ch, prev, ticket)
	}
	a.tickets[ch], a.kinds[ch] = ticket, kind
}

// worker is one PBX client of the load: it plays the call script through
// its pbx (round-robin over the nodes, failing over with the same body).
type worker struct {
	pbx
	own    int64 // the worker's own agent (external and outbound calls)
	script *pbxscript.Script
}

// call sends the script's call i; every fifth call first moves the
// worker's own agent (a presence PATCH), so that presence changes travel
// through the failovers too.
func (w worker) call(i int) {
	if i%5 == 0 {
		status := [...]string{"unavailable", "idle"}[(i/5)%2]
		w.must("PATCH", fmt.Sprintf("/api/mind/profile/%d/routingStatus", w.own), fmt.Sprintf(`{"callRoutingStatus":%q}`, status))
	}
	w.script.Call(i)
}

// runLoad sends calls from..to-1 from pbxscript.Workers workers, each a
// PBX that knows the URLs of nodes, and returns when all are done;
// progress counts finished calls for the test's kill schedule.
func runLoad(t *testing.T, c *cluster, nodes []*node, from, to int, ack *acked, progress *atomic.Int64) {
	next := make(chan int)
	var (
		wg sync.WaitGroup
		rr atomic.Int64
	)
	for w := range pbxscript.Workers {
		wg.Go(func() {
			p, own := c.pbxOn(t, &rr, nodes...), pbxscript.OwnAgent(w)
			wk := worker{pbx: p, own: own, script: pbxscript.New(t, p.sender(), own, func(ch string, kind pbxscript.Kind, ticket int64) {
				ack.add(t, ch, kind, ticket)
			})}
			for i := range next {
				wk.call(i)
				progress.Add(1)
			}
		})
	}
	for i := from; i < to; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// settle waits until no agent is in a timed state (after-call work or
// ringing) and central has everything: then nothing changes any more.
func settle(t *testing.T, c *cluster, p pbx) {
	t.Helper()
	pbxscript.WaitIdle(t, p.get)
	deadline := time.Now().Add(60 * time.Second)
	for {
		lead := c.leader()
		if lead != nil {
			var v edgetest.Outbox
			a := lead.must(t, http.MethodGet, "/edge/v1/outbox", "")
			if err := json.Unmarshal(a.Raw, &v); err != nil {
				t.Fatalf("outbox: %v in %s", err, a.Raw)
			}
			if v.Outbox.DeadLetters != 0 {
				t.Fatalf("%d dead letters: %s", v.Outbox.DeadLetters, a.Raw)
			}
			if v.Drained() {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("outbox not drained to central after 60 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
