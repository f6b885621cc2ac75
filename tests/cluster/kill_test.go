package cluster

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/edgetest"
	"github.com/enneo-edge/enneo-edge/internal/pbxscript"
)

// TestKillLeaderTwiceAndAFollowerOnce: eight PBX clients send calls of
// every kind round-robin to the three nodes, retrying a failed request on
// the next node with the same body; meanwhile the leader is SIGKILLed,
// then a follower, then the (new) leader again, each at a random moment
// and restarted after a random pause. Afterwards every acknowledged ticket
// is on every node with the same ID and content, the restarted nodes have
// applied everything, the files pass `enneo-edge check`, the exports are
// identical, no channelId has two tickets, no agent was offered two calls
// at once, and central received every record exactly once, though a fifth
// of its answers were ambiguous (the forwarder moves with the leader).
func TestKillLeaderTwiceAndAFollowerOnce(t *testing.T) {
	calls := pbxscript.Calls(360, 140, "EDGE_CLUSTER_CALLS")
	c := newCluster(t, options{extra: routingConfig(), ambiguous: 0.2})
	var rr atomic.Int64
	setup := c.pbx(t, &rr)
	pbxscript.SetupAgents(t, setup.sender())
	if t.Failed() {
		t.FailNow()
	}

	ack := newAcked()
	var progress atomic.Int64
	killed := make(chan []time.Duration)
	go func() {
		var f []time.Duration
		defer func() { killed <- f }() // also when a wait in it fails the test
		f = c.killDuringLoad(t, calls, &progress, ack)
	}()
	runLoad(t, c, c.nodes, 0, calls, ack, &progress)
	failovers := <-killed
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d calls acknowledged; leader SIGKILL to the first call answered: %v", len(ack.tickets), failovers)

	settle(t, c, setup)
	index := c.waitCaughtUp(30 * time.Second)
	t.Logf("every node applied index %d", index)
	c.verifyMetrics(index)
	c.verifyTickets(ack)
	c.verifyCentral(ack, setup)
	tricks := c.central.Snapshot().Tricks
	t.Logf("central's ambiguous answers: %v", tricks)
	for _, trick := range []string{"late", "drop", "500", "slow"} {
		if tricks[trick] < calls/50 {
			t.Errorf("only %d %q answers from central: the test did not test ambiguity", tricks[trick], trick)
		}
	}
	c.checkFiles()
	c.verifyExports(ack)
}

// killDuringLoad kills the leader, a follower and the leader again at
// random points of the load (a fifth, 45 % and 70 % of the calls done,
// give or take 5 %) and restarts each after 0.2 to 1.5 s.
// It waits before each kill until the restarted node has caught up, so
// that the cluster always has a quorum left. It returns, for each leader
// kill, the time until the first call was answered after it.
func (c *cluster) killDuringLoad(t *testing.T, calls int, progress *atomic.Int64, ack *acked) []time.Duration {
	var failovers []time.Duration
	for k, victim := range []string{"leader", "follower", "leader"} {
		at := 0.2 + float64(k)/4 + (rand.Float64()-0.5)/10
		for progress.Load() < int64(at*float64(calls)) {
			time.Sleep(5 * time.Millisecond)
		}
		lead := c.waitLeader(30 * time.Second)
		c.waitAllApplied(30 * time.Second)
		n := lead
		if victim == "follower" {
			fs := c.followers(lead)
			n = fs[rand.IntN(len(fs))]
		}
		time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond) // not just after an election
		killedAt := time.Now()
		n.kill(t)
		t.Logf("kill %d: SIGKILL %s (%s) after %d calls", k+1, n.name, victim, progress.Load())
		if victim == "leader" {
			failovers = append(failovers, c.firstAnswerAfter(t, killedAt, n, fmt.Sprintf("probe-%d", k), ack))
		}
		time.Sleep(time.Duration(200+rand.IntN(1300)) * time.Millisecond)
		n.start(t)
	}
	return failovers
}

// firstAnswerAfter sends one new call (routing none, channelId ch) to the
// nodes other than dead, as a PBX does, until a node answers 200, and
// returns the time from killedAt to that answer: the failover as a PBX
// sees it.
func (c *cluster) firstAnswerAfter(t *testing.T, killedAt time.Time, dead *node, ch string, ack *acked) time.Duration {
	client := &http.Client{Timeout: 2 * time.Second}
	body := fmt.Sprintf(`{"routing":"none","channelId":%q,"phone":"+4930999000"}`, ch)
	for try := 0; time.Since(killedAt) < 60*time.Second; try++ {
		n := c.nodes[try%len(c.nodes)]
		if n == dead {
			continue
		}
		a, err := do(client, n.base, http.MethodPost, "/api/mind/telephony/callReceived", body)
		if err == nil && a.Code == http.StatusOK {
			took := time.Since(killedAt)
			ack.add(t, ch, kindProbe, num(a.Body["ticketId"]))
			return took
		}
		if err == nil && a.Code < 500 {
			t.Errorf("probe %s on %s: %d %s", ch, n.name, a.Code, a.Raw)
			return 0
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Errorf("no node answered %s within 60 s of the leader's SIGKILL", ch)
	return 0
}

// waitAllApplied waits until every node runs and has applied the leader's
// commit index as it was when the wait began: a restarted node caught up.
func (c *cluster) waitAllApplied(limit time.Duration) {
	c.t.Helper()
	var target uint64
	edgetest.WaitFor(c.t, "every node to catch up with the leader", limit, func() bool {
		lead := c.leader()
		if lead == nil {
			return false
		}
		if target == 0 {
			s, err := lead.status()
			if err != nil {
				return false
			}
			target = s.CommitIndex
		}
		for _, n := range c.nodes {
			if !n.running() {
				return false
			}
			s, err := n.status()
			if err != nil || s.AppliedIndex < target {
				return false
			}
		}
		return true
	})
}
