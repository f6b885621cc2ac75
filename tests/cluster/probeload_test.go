package cluster

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// probeLoad is the load of the crash tests: workers clients sending
// distinct routing-none calls back to back to the node pick names, until
// halt, recording every body sent (a PBX resends a call that got no
// answer) and every acknowledgement in ack.
type probeLoad struct {
	sent sync.Map // channelId -> body of every call sent
	stop chan struct{}
	wg   sync.WaitGroup
}

func startProbeLoad(t *testing.T, ack *acked, workers int, prefix string, pick func(w, i int) *node) *probeLoad {
	l := &probeLoad{stop: make(chan struct{})}
	for w := range workers {
		l.wg.Go(func() {
			client := &http.Client{Timeout: 3 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				ch := fmt.Sprintf("%s-%d-%d", prefix, w, i)
				body := fmt.Sprintf(`{"routing":"none","channelId":%q,"phone":"+4930%07d"}`, ch, i)
				l.sent.Store(ch, body)
				n := pick(w, i)
				a, err := do(client, n.base, http.MethodPost, "/api/mind/telephony/callReceived", body)
				if err == nil && a.Code == http.StatusOK {
					ack.add(t, ch, kindProbe, num(a.Body["ticketId"]))
				}
			}
		})
	}
	return l
}

// halt stops the clients and waits for the calls in flight.
func (l *probeLoad) halt() {
	close(l.stop)
	l.wg.Wait()
}
