package cluster

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/edgetest"
	"github.com/enneo-edge/enneo-edge/internal/pbxscript"
)

// TestPartitionedNodeAnswersNoWrite cuts the leader off from the other two
// (every byte on its peer links dropped by the test's proxies): the worst
// case, a node that believed it led. It must answer writes 503 with an
// error that says why, never 200, and its /readyz must fail; the other two
// elect a leader and take calls, also from a PBX that lists the cut-off
// node first; after healing, the cut-off node catches up, takes writes
// again, and every node holds the same tickets.
func TestPartitionedNodeAnswersNoWrite(t *testing.T) {
	c := newCluster(t, options{proxied: true, extra: routingConfig(), ambiguous: 0.2})
	var rr atomic.Int64
	pbxscript.SetupAgents(t, c.pbx(t, &rr).sender())
	ack := newAcked()
	var progress atomic.Int64
	// The cut comes while calls of every kind arrive and the leader's
	// forwarder has records in flight to central (a fifth of central's
	// answers are ambiguous): the cut-off leader may still send a record
	// before it notices, and the new leader must not send it again.
	loaded := make(chan struct{})
	go func() { defer close(loaded); runLoad(t, c, c.nodes, 0, 40, ack, &progress) }()
	for progress.Load() < 12 {
		time.Sleep(5 * time.Millisecond)
	}

	cut := c.waitLeader(30 * time.Second)
	var majority []*node
	for _, n := range c.nodes {
		if n != cut {
			majority = append(majority, n)
		}
	}
	c.isolate(c.index(cut), true)
	cutAt := time.Now()
	t.Logf("cut off %s (the leader) after %d calls", cut.name, progress.Load())

	// Writes to the cut-off node: each answer 503 with a reason, none 200.
	// A write may wait for the node to notice it lost its quorum (the
	// first, taken while it still led, waits for its commit; later ones
	// for an election, 3 s), but within 15 s of the cut it must answer 503.
	// Four PBX clients at once: three calls and a presence change.
	client := &http.Client{Timeout: 10 * time.Second}
	writes := []struct{ ch, method, path, body string }{
		{method: http.MethodPatch, path: "/api/mind/profile/1/routingStatus", body: `{"chatRoutingStatus":"idle"}`},
	}
	for i := range 3 {
		ch := fmt.Sprintf("cut-%d", i)
		writes = append(writes, struct{ ch, method, path, body string }{ch, http.MethodPost,
			"/api/mind/telephony/callReceived", fmt.Sprintf(`{"routing":"none","channelId":%q,"phone":"+4930555%04d"}`, ch, i)})
	}
	var (
		refused []string
		mu      sync.Mutex
		wg      sync.WaitGroup
	)
	for _, w := range writes {
		wg.Go(func() {
			for time.Since(cutAt) < 15*time.Second {
				a, err := do(client, cut.base, w.method, w.path, w.body)
				switch {
				case err != nil:
					t.Logf("%s %s to the cut-off node: %v (%s after the cut)", w.method, w.path, err, time.Since(cutAt).Round(time.Millisecond))
					continue
				case a.Code == http.StatusOK:
					t.Errorf("the cut-off node answered %s %s 200 %s after the cut: %s", w.method, w.path, time.Since(cutAt).Round(time.Millisecond), a.Raw)
				case a.Code != http.StatusServiceUnavailable:
					t.Errorf("the cut-off node answered %s %s %d, want 503: %s", w.method, w.path, a.Code, a.Raw)
				case !clearNoQuorum(a.Raw):
					t.Errorf("the cut-off node's 503 does not say why (quorum, leader, outcome unknown): %s", a.Raw)
				default:
					t.Logf("%s %s: 503 %s after the cut: %s", w.method, w.path, time.Since(cutAt).Round(time.Millisecond), a.Raw)
					if w.ch != "" {
						mu.Lock()
						refused = append(refused, w.ch)
						mu.Unlock()
					}
				}
				return
			}
			t.Errorf("%s %s: the cut-off node gave no answer within 15 s of the cut", w.method, w.path)
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	edgetest.WaitFor(t, "the cut-off node's /readyz to answer 503", 15*time.Second, func() bool {
		a, err := do(client, cut.base, http.MethodGet, "/readyz", "")
		return err == nil && a.Code == http.StatusServiceUnavailable
	})
	t.Logf("the cut-off node's /readyz answered 503 %s after the cut", time.Since(cutAt).Round(time.Millisecond))
	// Once it knows it has no leader, a write is refused for that reason.
	late := do503(t, client, cut, "cut-late")
	if !strings.Contains(strings.ToLower(string(late)), "quorum") {
		t.Errorf("a write on the cut-off node that knows it has no leader: %s, want the no-quorum error", late)
	}
	refused = append(refused, "cut-late")

	// The majority goes on: the load that was running when the cut came
	// ends (its PBX fails over), then more calls for a PBX that knows only
	// the majority and for one that tries the cut-off node first (two URLs
	// of three are enough). A PBX retries what the cut-off node refused on
	// its next URL; half of those go to the majority now, half to the
	// cut-off node after healing.
	lead := c.waitLeaderAmong(majority, 30*time.Second)
	t.Logf("%s leads the majority, %s after the cut", lead.name, time.Since(cutAt).Round(time.Millisecond))
	<-loaded
	runLoad(t, c, majority, 40, 60, ack, &progress)
	runLoad(t, c, []*node{cut, majority[0]}, 60, 66, ack, &progress)
	two := c.pbxOn(t, &rr, majority...)
	for _, ch := range refused[:len(refused)/2] {
		a := two.must(http.MethodPost, "/api/mind/telephony/callReceived", fmt.Sprintf(`{"routing":"none","channelId":%q,"phone":"+4930555"}`, ch))
		ack.add(t, ch, kindProbe, num(a.Body["ticketId"]))
	}
	refused = refused[len(refused)/2:]
	if t.Failed() {
		t.FailNow()
	}
	for _, n := range majority {
		if s, err := n.status(); err != nil || s.Leader != lead.name {
			t.Errorf("%s during the partition: %+v %v", n.name, s, err)
		}
	}

	t.Logf("66 calls acknowledged, %s after the cut", time.Since(cutAt).Round(time.Millisecond))
	c.isolate(c.index(cut), false)
	healedAt := time.Now()
	c.waitLeader(30 * time.Second)
	c.waitCaughtUp(30 * time.Second)
	t.Logf("healed: the cut-off node caught up %s later", time.Since(healedAt).Round(time.Millisecond))
	// The healed node takes writes again: the PBX's retries of the rest of
	// what it refused during the cut now succeed, once each.
	for _, ch := range refused {
		a := cut.must(t, http.MethodPost, "/api/mind/telephony/callReceived",
			fmt.Sprintf(`{"routing":"none","channelId":%q,"phone":"+4930555"}`, ch))
		ack.add(t, ch, kindProbe, num(a.Body["ticketId"]))
	}
	settle(t, c, c.pbx(t, &rr))
	c.waitCaughtUp(30 * time.Second)
	c.verifyTickets(ack)
	c.verifyCentral(ack, c.pbx(t, &rr))
	c.checkFiles()
	c.verifyExports(ack)
}

// clearNoQuorum tells whether a 503's body says the node lacks a quorum or
// a leader (or that the write's outcome is unknown: it was taken while the
// node still led), which is what an operator reading the PBX's log needs.
func clearNoQuorum(body []byte) bool {
	s := strings.ToLower(string(body))
	return strings.Contains(s, "quorum") || strings.Contains(s, "leader") || strings.Contains(s, "outcome unknown")
}

// do503 sends a new call to n and fails the test unless n answers 503;
// it returns the body.
func do503(t *testing.T, client *http.Client, n *node, ch string) []byte {
	t.Helper()
	a, err := do(client, n.base, http.MethodPost, "/api/mind/telephony/callReceived",
		fmt.Sprintf(`{"routing":"none","channelId":%q,"phone":"+4930555"}`, ch))
	if err != nil || a.Code != http.StatusServiceUnavailable {
		t.Fatalf("a write on %s: %v %d %s, want 503", n.name, err, a.Code, a.Raw)
	}
	return a.Raw
}

// index is n's position in c.nodes.
func (c *cluster) index(n *node) int {
	for i, m := range c.nodes {
		if m == n {
			return i
		}
	}
	c.t.Fatalf("node %s is not in the cluster", n.name)
	return -1
}

// waitLeaderAmong waits until the nodes agree on a leader among them.
func (c *cluster) waitLeaderAmong(nodes []*node, limit time.Duration) *node {
	c.t.Helper()
	var lead *node
	var last []string
	defer func() {
		if c.t.Failed() {
			c.t.Logf("last status of the majority: %v", last)
		}
	}()
	edgetest.WaitFor(c.t, "a leader among the majority", limit, func() bool {
		lead = nil
		last = last[:0]
		for _, n := range nodes {
			s, err := n.status()
			last = append(last, fmt.Sprintf("%s: %+v %v", n.name, s, err))
			if err != nil || s.Leader == "" || (lead != nil && lead.name != s.Leader) {
				return false
			}
			lead = c.byName(s.Leader)
		}
		for _, n := range nodes {
			if n == lead {
				return true
			}
		}
		return false
	})
	return lead
}
