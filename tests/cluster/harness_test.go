// Package cluster runs three real enneo-edge processes on loopback as one
// cluster and is violent to them: SIGKILLs of the leader and a follower
// while calls of every kind arrive, a node cut off from the other two by the
// test's own proxies on every peer link, and a keepalived check script
// following a node's health. Afterwards every acknowledged call must be on
// every node, the same, once, and at the fake central exactly once.
package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/edgetest"
	"github.com/enneo-edge/enneo-edge/internal/fakecentral"
)

const (
	edgeToken    = "cluster-test-edge-token-0123456789"
	centralToken = "cluster-test-central-token-0123456789"
	secret       = "cluster-test-peer-secret-0123456789"
)

var binary string

func TestMain(m *testing.M) { edgetest.Main(m, "../..", &binary) }

// node is one member of the test's cluster: its config, data directory and
// (while it runs) its process. Its API and peer ports stay the same across
// restarts.
type node struct {
	name string
	dir  string // its data directory: the database and raft's files
	cfg  string // its config file, outside dir (dir may be a fault file system)
	api  string // host:port of the HTTP API
	peer string // host:port of its peer transport ([cluster] listen)
	base string // http://api
	proc *edgetest.Proc
}

// cluster is the three nodes, the proxies on their peer links (when the
// test asked for them) and the fake central they forward to.
type cluster struct {
	t       *testing.T
	nodes   []*node
	links   map[[2]int]*link // links[{i, j}] carries what node i dials to node j
	central *fakecentral.Central
}

// options are what a test chooses of its cluster.
type options struct {
	proxied bool   // route every peer link through a proxy of the test's own
	extra   string // appended to every node's config (e.g. a [routing] table)
	dataDir func(i int) string
	env     []string
	// ambiguous is the share of central's answers that are ambiguous
	// (too late, dropped, 500 after applying, or applied after the edge's
	// timeout): the forwarder must look up before it sends again, also
	// after a leader change.
	ambiguous float64
}

var names = []string{"edge-a", "edge-b", "edge-c"}

// newCluster writes the configs and starts three nodes, then waits until
// they agree on a leader.
func newCluster(t *testing.T, o options) *cluster {
	t.Helper()
	c := &cluster{t: t, links: map[[2]int]*link{},
		central: fakecentral.New(t, fakecentral.Options{Token: centralToken, Ambiguous: o.ambiguous, Late: 450 * time.Millisecond})}
	for i, name := range names {
		dir := t.TempDir()
		if o.dataDir != nil {
			dir = o.dataDir(i)
		}
		n := &node{name: name, dir: dir, api: edgetest.FreeAddr(t), peer: edgetest.FreeAddr(t)}
		n.base = "http://" + n.api
		c.nodes = append(c.nodes, n)
	}
	if o.proxied {
		for i, from := range c.nodes {
			for j, to := range c.nodes {
				if i != j {
					c.links[[2]int{i, j}] = newLink(t, fmt.Sprintf("%s->%s", from.name, to.name), to.peer)
				}
			}
		}
	}
	for i, n := range c.nodes {
		n.cfg = c.writeConfig(i, o.extra)
	}
	for _, n := range c.nodes {
		n.start(t, o.env...)
	}
	c.waitLeader(30 * time.Second)
	return c
}

// writeConfig writes node i's config: its peers list names the address
// node i dials for each other node, the proxy of that link if there is one.
func (c *cluster) writeConfig(i int, extra string) string {
	c.t.Helper()
	n := c.nodes[i]
	var peers []string
	for j, m := range c.nodes {
		addr := m.peer
		if l := c.links[[2]int{i, j}]; l != nil {
			addr = l.addr
		}
		peers = append(peers, fmt.Sprintf("%q", m.name+"="+addr))
	}
	return edgetest.WriteConfig(c.t, filepath.Join(c.t.TempDir(), "enneo-edge.toml"), edgetest.Config{
		Listen: n.api,
		DB:     filepath.Join(n.dir, "edge.db"),
		Site:   3,
		Token:  edgeToken,
		Upstream: &edgetest.Upstream{
			URL: c.central.URL(), Token: centralToken, Workers: 8, Timeout: "300ms",
			BackoffMin: "5ms", BackoffMax: "200ms", PausedRetry: "100ms",
			Extra: "lookup_delay = \"600ms\"\npull_interval = \"0s\"\n",
		},
		Extra: fmt.Sprintf(`[cluster]
node = %q
listen = %q
peers = [%s]
secret = %q
%s`, n.name, n.peer, strings.Join(peers, ", "), secret, extra),
	})
}

func (n *node) start(t *testing.T, env ...string) {
	t.Helper()
	n.proc = edgetest.Start(t, binary, n.cfg, env...)
}

// running tells whether the node's process is alive.
func (n *node) running() bool {
	if n.proc == nil {
		return false
	}
	select {
	case <-n.proc.Done:
		return false
	default:
		return true
	}
}

// kill SIGKILLs the node, as a power cut or the OOM killer would.
func (n *node) kill(t *testing.T) {
	t.Helper()
	n.proc.Kill(t)
}

// stop ends the node with SIGTERM and fails unless it exits cleanly.
func (n *node) stop(t *testing.T) {
	t.Helper()
	n.proc.Stop(t)
}

// clusterStatus is GET /edge/v1/cluster.
type clusterStatus struct {
	Node             string     `json:"node"`
	Role             string     `json:"role"`
	Leader           string     `json:"leader"`
	LeaderAddr       string     `json:"leaderAddr"`
	Term             uint64     `json:"term"`
	AppliedIndex     uint64     `json:"appliedIndex"`
	CommitIndex      uint64     `json:"commitIndex"`
	LastLeaderChange *time.Time `json:"lastLeaderChange"`
	Members          []struct {
		Node     string `json:"node"`
		Addr     string `json:"addr"`
		Suffrage string `json:"suffrage"`
		Lag      int64  `json:"lag"` // -1: the member did not answer
	} `json:"members"`
}

var statusClient = &http.Client{Timeout: 2 * time.Second}

// status asks the node for its view of the cluster.
func (n *node) status() (clusterStatus, error) {
	var s clusterStatus
	a, err := do(statusClient, n.base, http.MethodGet, "/edge/v1/cluster", "")
	if err != nil {
		return s, err
	}
	if a.Code != http.StatusOK {
		return s, fmt.Errorf("GET /edge/v1/cluster on %s: %d %s", n.name, a.Code, a.Raw)
	}
	if err := json.Unmarshal(a.Raw, &s); err != nil {
		return s, fmt.Errorf("GET /edge/v1/cluster on %s: %w in %s", n.name, err, a.Raw)
	}
	return s, nil
}

// leader returns the node that says it leads and that every other running
// node names as leader, or nil while they do not agree.
func (c *cluster) leader() *node {
	var lead *node
	for _, n := range c.nodes {
		if !n.running() {
			continue
		}
		s, err := n.status()
		if err != nil || s.Leader == "" {
			return nil
		}
		if lead != nil && lead.name != s.Leader {
			return nil
		}
		lead = c.byName(s.Leader)
		if lead == nil || !lead.running() {
			return nil
		}
	}
	if lead == nil {
		return nil
	}
	if s, err := lead.status(); err != nil || s.Role != "leader" {
		return nil
	}
	return lead
}

func (c *cluster) byName(name string) *node {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// waitLeader waits until the running nodes agree on a leader.
func (c *cluster) waitLeader(limit time.Duration) *node {
	c.t.Helper()
	var lead *node
	edgetest.WaitFor(c.t, "the nodes to agree on a leader", limit, func() bool {
		lead = c.leader()
		return lead != nil
	})
	return lead
}

// followers returns the running nodes that are not lead.
func (c *cluster) followers(lead *node) []*node {
	var f []*node
	for _, n := range c.nodes {
		if n != lead && n.running() {
			f = append(f, n)
		}
	}
	return f
}

// waitCaughtUp waits until every running node has applied what the
// leader has committed, and that stays so for a moment (nothing in flight).
func (c *cluster) waitCaughtUp(limit time.Duration) uint64 {
	c.t.Helper()
	var index uint64
	stable := 0
	edgetest.WaitFor(c.t, "every node to apply the leader's commit index", limit, func() bool {
		lead := c.leader()
		if lead == nil {
			stable = 0
			return false
		}
		ls, err := lead.status()
		if err != nil {
			return false
		}
		for _, n := range c.nodes {
			if !n.running() {
				continue
			}
			s, err := n.status()
			if err != nil || s.AppliedIndex < ls.CommitIndex {
				stable = 0
				return false
			}
		}
		if ls.CommitIndex == index {
			stable++
		} else {
			index, stable = ls.CommitIndex, 0
		}
		time.Sleep(100 * time.Millisecond)
		return stable >= 5
	})
	return index
}

// checkFiles stops every node and runs `enneo-edge check` on each file:
// it must be clean (no error, no warning).
func (c *cluster) checkFiles() {
	c.t.Helper()
	for _, n := range c.nodes {
		if n.running() {
			n.stop(c.t)
		}
	}
	for _, n := range c.nodes {
		out, err := exec.Command(binary, "check", "-config", n.cfg).CombinedOutput()
		if err != nil || strings.Contains(string(out), "warning") {
			c.t.Errorf("check on %s: %v\n%s", n.name, err, out)
		}
	}
}

// exports returns each stopped node's tickets as `enneo-edge export`
// writes them (JSON Lines, in ID order).
func (c *cluster) exports() [][]byte {
	c.t.Helper()
	var all [][]byte
	for _, n := range c.nodes {
		out, err := exec.Command(binary, "export", "-config", n.cfg).Output()
		if err != nil {
			c.t.Fatalf("export on %s: %v", n.name, err)
		}
		all = append(all, out)
	}
	return all
}
