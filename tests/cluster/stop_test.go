package cluster

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/pbxscript"
)

// TestSIGTERMLeaderAndFollower: an operator's restarts (systemctl restart:
// SIGTERM) of the leader and then of a follower while calls of every kind
// arrive. Each stops cleanly (exit 0) with the calls it took answered, and
// afterwards everything holds as after the SIGKILLs.
func TestSIGTERMLeaderAndFollower(t *testing.T) {
	const calls = 140
	c := newCluster(t, options{extra: routingConfig()})
	var rr atomic.Int64
	p := c.pbx(t, &rr)
	pbxscript.SetupAgents(t, p.sender())
	ack := newAcked()
	var progress atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for k, victim := range []string{"leader", "follower"} {
			for progress.Load() < int64(calls*(k+1)/3) {
				time.Sleep(5 * time.Millisecond)
			}
			lead := c.waitLeader(30 * time.Second)
			c.waitAllApplied(30 * time.Second)
			n := lead
			if victim == "follower" {
				n = c.followers(lead)[0]
			}
			stopped := time.Now()
			n.stop(t) // fails the test unless it exits 0 within 20 s
			t.Logf("SIGTERM %s (%s) after %d calls: exited in %s", n.name, victim, progress.Load(), time.Since(stopped).Round(time.Millisecond))
			n.start(t)
		}
	}()
	runLoad(t, c, c.nodes, 0, calls, ack, &progress)
	<-done
	if t.Failed() {
		t.FailNow()
	}
	settle(t, c, p)
	c.waitCaughtUp(30 * time.Second)
	c.verifyTickets(ack)
	c.verifyCentral(ack, p)
	c.checkFiles()
	c.verifyExports(ack)
}
