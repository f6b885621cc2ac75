package pbx

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/edgetest"
)

// startCluster runs three enneo-edge members of one cluster on loopback
// (integrations/README.md, "A cluster of edges") and waits until each
// answers /readyz (it reaches a quorum).
func startCluster(t *testing.T, dir string) []*edge {
	t.Helper()
	names := []string{"edge-a", "edge-b", "edge-c"}
	var peerAddrs, peers []string
	for _, n := range names {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		peerAddrs = append(peerAddrs, ln.Addr().String())
		ln.Close()
		peers = append(peers, fmt.Sprintf("%q", n+"="+peerAddrs[len(peerAddrs)-1]))
	}
	var members []*edge
	for i, n := range names {
		d := filepath.Join(dir, n)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(d, "enneo-edge.toml")
		body := fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = %q\n[site]\nid = %d\n[auth]\ntokens = [%q]\n"+
			"[cluster]\nnode = %q\nlisten = %q\npeers = [%s]\nsecret = \"pbx-test-cluster-secret-0123456789abcdef\"\n",
			filepath.Join(d, "edge.db"), siteID, token, n, peerAddrs[i], strings.Join(peers, ", "))
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		members = append(members, &edge{Proc: edgetest.Start(t, binary, cfg), token: token})
	}
	edgetest.WaitFor(t, "every member ready (a leader elected)", 30*time.Second, func() bool {
		for _, m := range members {
			resp, err := http.Get(m.URL + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return false
			}
		}
		return true
	})
	return members
}

// role is the member's cluster role from GET /edge/v1/cluster.
func (e *edge) role(t *testing.T) string {
	t.Helper()
	code, b := e.do(t, "GET", "/edge/v1/cluster", nil)
	if code != 200 {
		t.Fatalf("GET /edge/v1/cluster: %d %s", code, b)
	}
	for _, r := range []string{"leader", "follower", "candidate"} {
		if strings.Contains(string(b), `"role":"`+r+`"`) {
			return r
		}
	}
	return string(b)
}

// TestKamailioCluster runs the shipped kamailio.cfg against a cluster of
// three with two of its members as EDGE_PRIMARY and EDGE_SECONDARY, as
// integrations/README.md says: the primary (a follower) is SIGKILLed in
// the middle of 100 calls at 50/s, and every call still gets exactly one
// ticket, with agentConnected and callCompleted, readable on the members
// left, whichever took it.
func TestKamailioCluster(t *testing.T) {
	needTools(t, "kamailio", "sipp")
	dir := t.TempDir()
	members := startCluster(t, dir)
	var primary, secondary, third *edge
	for _, m := range members {
		switch {
		case primary == nil && m.role(t) == "follower":
			primary = m
		case secondary == nil:
			secondary = m
		default:
			third = m
		}
	}
	if primary == nil {
		t.Fatal("no follower among the members")
	}
	s := kamailioSettings{
		listenPort: freeUDPPort(t), primary: primary.URL, secondary: secondary.URL, token: token,
		nextHopPort: freeUDPPort(t), failPort: freeUDPPort(t),
	}
	startUAS(t, filepath.Join(dir, "uas"), "uas.xml", s.nextHopPort)
	startUAS(t, filepath.Join(dir, "uas-failopen"), "uas-failopen.xml", s.failPort)
	startKamailio(t, filepath.Join(dir, "kamailio"), s)

	const calls = 100
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		time.Sleep(time.Second) // half way through the calls
		primary.Kill(t)
	}()
	run := runUAC(t, filepath.Join(dir, "uac"), "uac.xml", s.listenPort, calls, 50)
	<-killed
	run.mustSucceed(t, filepath.Join(dir, "uac"), calls)
	checkTickets(t, secondary, run.callIDs(calls), true)
	checkTickets(t, third, run.callIDs(calls), true)
	if n := secondary.requests(t, callReceived, 200); n == 0 {
		t.Error("the secondary answered no callReceived: the primary's death was not felt")
	}
}
