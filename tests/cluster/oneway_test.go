package cluster

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestOneWayPartitionIsNotReady: the followers hear the leader but cannot
// reach it. A follower must then either take writes
// (200) or say it is not ready (/readyz 503, so keepalived moves the
// address); before the fix it answered every write 503 and /readyz 200.
func TestOneWayPartitionIsNotReady(t *testing.T) {
	c := newCluster(t, options{proxied: true})
	lead := c.waitLeader(30 * time.Second)
	li := c.index(lead)
	for k, l := range c.links {
		if k[1] == li { // what the followers dial to the leader
			l.setCut(true)
		}
	}
	client := &http.Client{Timeout: 10 * time.Second}
	time.Sleep(5 * time.Second) // longer than any health window
	for _, n := range c.followers(lead) {
		a, err := do(client, n.base, http.MethodPost, "/api/mind/telephony/callReceived",
			fmt.Sprintf(`{"routing":"none","channelId":"oneway-%s"}`, n.name))
		r, rerr := do(client, n.base, http.MethodGet, "/readyz", "")
		if err == nil && a.Code != http.StatusOK && rerr == nil && r.Code == http.StatusOK {
			t.Errorf("%s refuses writes (%d %s) but /readyz says 200", n.name, a.Code, a.Raw)
		}
	}
}
