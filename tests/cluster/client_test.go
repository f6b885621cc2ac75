package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/edgetest"
	"github.com/enneo-edge/enneo-edge/internal/pbxscript"
)

// answer is one reply of a node and which node gave it.
type answer struct {
	edgetest.Answer
	node string
}

// do sends one request with the test's token; err is a transport error.
func do(client *http.Client, base, method, path, body string) (answer, error) {
	a, err := edgetest.Do(client, base, edgeToken, method, path, body)
	return answer{Answer: a}, err
}

// retryable is what makes a PBX try the next URL: no answer, or a 5xx
// (the node has no quorum, is shutting down or failed).
func retryable(a answer, err error) bool { return err != nil || a.Code >= 500 }

// pbx plays a phone system that knows every node's URL and, like Kamailio's
// failover= or an Asterisk loop over URLs, sends each request to the next
// node when one does not answer or answers 5xx, with the same body (so the
// same channelId). It starts each request on the next node in turn
// (round-robin).
type pbx struct {
	t      *testing.T
	nodes  []*node // the URLs it knows, tried in turn
	client *http.Client
	next   *atomic.Int64 // round-robin position, shared by the test's clients
	limit  time.Duration // give up on a request after this long
}

func (c *cluster) pbx(t *testing.T, rr *atomic.Int64) pbx { return c.pbxOn(t, rr, c.nodes...) }

// pbxOn is a PBX that knows only the URLs of nodes.
func (c *cluster) pbxOn(t *testing.T, rr *atomic.Int64, nodes ...*node) pbx {
	return pbx{t: t, nodes: nodes, client: &http.Client{Timeout: 5 * time.Second}, next: rr, limit: 60 * time.Second}
}

// send returns the first answer that is not retryable; it reports an error
// (and returns the last answer) when none came within p.limit.
func (p pbx) send(method, path, body string) answer {
	p.t.Helper()
	deadline := time.Now().Add(p.limit)
	start := int(p.next.Add(1))
	var (
		a   answer
		err error
	)
	for try := 0; ; try++ {
		n := p.nodes[(start+try)%len(p.nodes)]
		a, err = do(p.client, n.base, method, path, body)
		a.node = n.name
		if !retryable(a, err) {
			return a
		}
		if time.Now().After(deadline) {
			p.t.Errorf("%s %s %s: no answer from any node for %s: last %v %d %s", method, path, body, p.limit, err, a.Code, a.Raw)
			return a
		}
		if (try+1)%len(p.nodes) == 0 {
			time.Sleep(50 * time.Millisecond) // every node refused: wait for an election
		}
	}
}

// must sends like send and reports an error unless the answer is 200.
func (p pbx) must(method, path, body string) answer {
	p.t.Helper()
	a := p.send(method, path, body)
	if a.Code != http.StatusOK {
		p.t.Errorf("%s %s %s: %d %s (from %s)", method, path, body, a.Code, a.Raw, a.node)
	}
	return a
}

// sender is must as the call script's Sender: the script's requests go
// round-robin over the nodes, failing over with the same body.
func (p pbx) sender() pbxscript.Sender {
	return func(method, path, body string) edgetest.Answer { return p.must(method, path, body).Answer }
}

// get decodes a 200 answer of path into v.
func (p pbx) get(path string, v any) {
	p.t.Helper()
	a := p.must(http.MethodGet, path, "")
	if err := json.Unmarshal(a.Raw, v); err != nil {
		p.t.Fatalf("GET %s: %v in %s", path, err, a.Raw)
	}
}

// must sends a request to one node only, retrying while it gives no
// answer or a 5xx, for the checks of one node's state.
func (n *node) must(t *testing.T, method, path, body string) answer {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		a, err := do(statusClient, n.base, method, path, body)
		a.node = n.name
		if !retryable(a, err) {
			if a.Code != http.StatusOK {
				t.Errorf("%s %s on %s: %d %s", method, path, n.name, a.Code, a.Raw)
			}
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s on %s: no answer for 30 s: %v %d %s", method, path, n.name, err, a.Code, a.Raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ticketOn reads ticket id from node n: its ticket object as stored.
func (n *node) ticketOn(t *testing.T, id int64) (json.RawMessage, string) {
	t.Helper()
	a := n.must(t, http.MethodGet, fmt.Sprintf("/edge/v1/tickets/%d", id), "")
	var v struct {
		Ticket json.RawMessage `json:"ticket"`
	}
	if err := json.Unmarshal(a.Raw, &v); err != nil {
		t.Fatalf("ticket %d on %s: %v in %s", id, n.name, err, a.Raw)
	}
	var tk struct {
		ChannelID string `json:"channelId"`
	}
	_ = json.Unmarshal(v.Ticket, &tk)
	return v.Ticket, tk.ChannelID
}
