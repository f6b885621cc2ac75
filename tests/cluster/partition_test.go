package cluster

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/edgetest"
)

// TestPartitionedNodeAnswersNoWrite cuts the leader off from the other two
// (every byte on its peer links dropped by the test's proxies): the worst
// case, a node that believed it led. It must answer writes 503 with an
// error that says why, never 200, and its /readyz must fail; the other two
// elect a leader and take calls, also from a PBX that lists the cut-off
// node first; after healing, the cut-off node catches up, takes writes
// again, and every node holds the same tickets.
func TestPartitionedNodeAnswersNoWrite(t *testing.T) {
	c := newCluster(t, options{proxied: true, extra: routingConfig})
	var rr atomic.Int64
	setupAgents(t, c.pbx(t, &rr))
	ack := newAcked()
	var progress atomic.Int64
	runLoad(t, c, c.nodes, 0, 30, ack, &progress)
	if t.Failed() {
		t.FailNow()
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
	t.Logf("cut off %s (the leader)", cut.name)

	// Writes to the cut-off node: each answer 503 with a reason, none 200.
	// A write may wait for the node to notice it lost its quorum (the
	// first, taken while it still led, waits for its commit; later ones
	// for an election, 3 s), but within 15 s of the cut it must answer 503.
	client := &http.Client{Timeout: 10 * time.Second}
	var refused []string
	var first503 time.Duration
	for i := 0; time.Since(cutAt) < 15*time.Second && (first503 == 0 || len(refused) < 3); i++ {
		ch := fmt.Sprintf("cut-%d", i)
		body := fmt.Sprintf(`{"routing":"none","channelId":%q,"phone":"+4930555%04d"}`, ch, i)
		a, err := do(client, cut.base, http.MethodPost, "/api/mind/telephony/callReceived", body)
		switch {
		case err != nil:
			t.Logf("write %d to the cut-off node: %v (after %s)", i, err, time.Since(cutAt).Round(time.Millisecond))
		case a.code == http.StatusOK:
			t.Fatalf("the cut-off node answered a write 200 %s after the cut: %s", time.Since(cutAt).Round(time.Millisecond), a.raw)
		case a.code != http.StatusServiceUnavailable:
			t.Fatalf("the cut-off node answered a write %d, want 503: %s", a.code, a.raw)
		case !clearNoQuorum(a.raw):
			t.Fatalf("the cut-off node's 503 does not say why (quorum, leader): %s", a.raw)
		default:
			if first503 == 0 {
				first503 = time.Since(cutAt)
			}
			refused = append(refused, ch)
		}
	}
	if first503 == 0 {
		t.Fatal("the cut-off node gave no 503 within 15 s of the cut")
	}
	t.Logf("the cut-off node answered writes 503 from %s after the cut", first503.Round(time.Millisecond))
	for _, path := range []string{"/api/mind/profile/1/routingStatus"} {
		a, err := do(client, cut.base, http.MethodPatch, path, `{"chatRoutingStatus":"idle"}`)
		if err == nil && a.code != http.StatusServiceUnavailable {
			t.Fatalf("PATCH %s on the cut-off node: %d %s, want 503", path, a.code, a.raw)
		}
	}
	edgetest.WaitFor(t, "the cut-off node's /readyz to answer 503", 15*time.Second, func() bool {
		a, err := do(client, cut.base, http.MethodGet, "/readyz", "")
		return err == nil && a.code == http.StatusServiceUnavailable
	})
	t.Logf("the cut-off node's /readyz answered 503 %s after the cut", time.Since(cutAt).Round(time.Millisecond))

	// The majority goes on, for a PBX that knows only them and for one
	// that tries the cut-off node first (two URLs of three are enough).
	lead := c.waitLeaderAmong(majority, 30*time.Second)
	t.Logf("%s leads the majority, %s after the cut", lead.name, time.Since(cutAt).Round(time.Millisecond))
	runLoad(t, c, majority, 30, 60, ack, &progress)
	runLoad(t, c, []*node{cut, majority[0]}, 60, 68, ack, &progress)
	if t.Failed() {
		t.FailNow()
	}
	for _, n := range majority {
		if s, err := n.status(); err != nil || s.Leader != lead.name {
			t.Errorf("%s during the partition: %+v %v", n.name, s, err)
		}
	}

	t.Logf("68 calls acknowledged, %s after the cut", time.Since(cutAt).Round(time.Millisecond))
	c.isolate(c.index(cut), false)
	healedAt := time.Now()
	c.waitLeader(30 * time.Second)
	c.waitCaughtUp(30 * time.Second)
	t.Logf("healed: the cut-off node caught up %s later", time.Since(healedAt).Round(time.Millisecond))
	// The healed node takes writes again: the PBX's retries of what it
	// refused during the cut now succeed, once each.
	for _, ch := range refused {
		a := cut.must(t, http.MethodPost, "/api/mind/telephony/callReceived",
			fmt.Sprintf(`{"routing":"none","channelId":%q,"phone":"+4930555"}`, ch))
		ack.add(t, ch, kindProbe, num(a.body["ticketId"]))
	}
	settle(t, c, c.pbx(t, &rr))
	c.waitCaughtUp(30 * time.Second)
	c.verifyTickets(ack)
	c.verifyCentral(ack, c.pbx(t, &rr))
	c.checkFiles()
	c.verifyExports(ack)
}

// clearNoQuorum tells whether a 503's body says the node lacks a quorum or
// a leader, which is what an operator reading the PBX's log needs.
func clearNoQuorum(body []byte) bool {
	s := strings.ToLower(string(body))
	return strings.Contains(s, "quorum") || strings.Contains(s, "leader")
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
