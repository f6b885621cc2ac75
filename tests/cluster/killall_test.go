package cluster

import (
	"fmt"
	"math/rand/v2"
	"net/http"
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
	var (
		sent sync.Map // channelId -> body
		stop = make(chan struct{})
		wg   sync.WaitGroup
	)
	for w := range 8 {
		wg.Go(func() {
			client := &http.Client{Timeout: 3 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ch := fmt.Sprintf("all-%d-%d", w, i)
				body := fmt.Sprintf(`{"routing":"none","channelId":%q,"phone":"+4930%07d"}`, ch, i)
				sent.Store(ch, body)
				n := c.nodes[(w+i)%len(c.nodes)]
				a, err := do(client, n.base, http.MethodPost, "/api/mind/telephony/callReceived", body)
				if err == nil && a.Code == http.StatusOK {
					ack.add(t, ch, kindProbe, num(a.Body["ticketId"]))
				}
			}
		})
	}
	time.Sleep(time.Duration(500+rand.IntN(700)) * time.Millisecond)
	var kill sync.WaitGroup
	for _, n := range c.nodes {
		kill.Go(func() { n.kill(t) })
	}
	kill.Wait()
	close(stop)
	wg.Wait()
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
	sent.Range(func(k, v any) bool {
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
