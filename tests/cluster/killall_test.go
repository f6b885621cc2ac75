package cluster

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestKillAllThreeAtOnce: the whole site loses power at once (all three
// processes SIGKILLed together) while calls arrive. On restart every call
// acknowledged before is on every member, a PBX's retry of a call that got
// no answer creates it once, and central gets each once.
func TestKillAllThreeAtOnce(t *testing.T) {
	c := newCluster(t, options{})
	ack := newAcked()
	load := startProbeLoad(t, ack, 8, "all", func(w, i int) *node { return c.nodes[(w+i)%len(c.nodes)] })
	time.Sleep(time.Duration(500+rand.IntN(700)) * time.Millisecond)
	var kill sync.WaitGroup
	for _, n := range c.nodes {
		kill.Go(func() { n.kill(t) })
	}
	kill.Wait()
	load.halt()
	ack.mu.Lock()
	acked := len(ack.tickets)
	ack.mu.Unlock()
	if acked == 0 {
		t.Fatal("no call acknowledged before the kill")
	}
	t.Logf("%d calls acknowledged before all three were killed", acked)

	for _, n := range c.nodes {
		n.start(t)
	}
	c.waitLeader(30 * time.Second)
	c.waitCaughtUp(30 * time.Second)
	c.presentEverywhere(ack) // everything acknowledged survived, on every member
	var rr atomic.Int64
	p := c.pbx(t, &rr)
	load.sent.Range(func(k, v any) bool {
		ch := k.(string)
		ack.mu.Lock()
		_, ok := ack.tickets[ch]
		ack.mu.Unlock()
		if !ok {
			a := p.must("POST", "/api/mind/telephony/callReceived", v.(string))
			ack.add(t, ch, kindProbe, num(a.Body["ticketId"]))
		}
		return true
	})
	settle(t, c, p)
	c.waitCaughtUp(30 * time.Second)
	c.verifyTickets(ack)
	c.verifyCentral(ack, p)
	c.checkFiles()
	c.verifyExports(ack)
}
