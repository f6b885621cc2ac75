package server

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/cluster"
	"github.com/enneo-edge/enneo-edge/db"
)

// fakeCluster is a member whose health the test sets.
type fakeCluster struct {
	unhealthy atomic.Pointer[error]
	added     string
	removed   string
}

func (f *fakeCluster) Status(context.Context, bool) cluster.Status {
	st := cluster.Status{Node: "edge-a", Role: "follower", Leader: "edge-b", LeaderAddr: "10.0.0.12:8006", Term: 3,
		AppliedIndex: 41, CommitIndex: 42, LastLeaderChange: time.Unix(1700000000, 0),
		Members: []cluster.Member{{Node: "edge-a", Addr: "10.0.0.11:8006", Suffrage: "Voter"}, {Node: "edge-b", Addr: "10.0.0.12:8006", Suffrage: "Voter", Lag: 2}}}
	if err := f.Healthy(); err != nil {
		st.Unhealthy = err.Error()
	}
	return st
}

func (f *fakeCluster) Healthy() error {
	if e := f.unhealthy.Load(); e != nil {
		return *e
	}
	return nil
}

func (f *fakeCluster) AddVoter(_ context.Context, node, addr string) error {
	f.added = node + "=" + addr
	return nil
}

func (f *fakeCluster) RemoveMember(_ context.Context, node string) error {
	f.removed = node
	return nil
}

// noQuorum is a replicator of a member cut off from the others.
type noQuorum struct{}

func (noQuorum) Submit(context.Context, []byte) ([]byte, error) { return nil, db.ErrNoQuorum }
func (noQuorum) Barrier(context.Context) error                  { return db.ErrNoQuorum }

// The cluster routes, readyz and /metrics report the member; a write or a
// linearizable read on a member without a quorum answers 503 with the
// reason, never 200.
func TestClusterRoutesAndNoQuorum(t *testing.T) {
	fc := &fakeCluster{}
	e := newEnvLogged(t, db.Options{SiteID: 7}, nil, []Option{WithCluster(fc)})
	a := e.do("GET", "/edge/v1/cluster", "")
	if a.code != 200 || a.str("role") != "follower" || a.str("leader") != "edge-b" {
		t.Fatalf("GET /edge/v1/cluster: %d %s", a.code, a.raw)
	}
	if a := e.do("GET", "/readyz", ""); a.code != 200 {
		t.Fatalf("readyz of a healthy member: %d %s", a.code, a.raw)
	}
	text := e.scrape()
	for _, want := range []string{"edge_cluster_role 0", "edge_cluster_applied_index 41", `edge_cluster_peer_lag{peer="edge-b"} 2`, "edge_cluster_leader_changes_total 0"} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if a := e.do("POST", "/edge/v1/cluster/members", `{"node":"edge-d","addr":"10.0.0.14:8006"}`); a.code != 200 || fc.added != "edge-d=10.0.0.14:8006" {
		t.Fatalf("add member: %d %s (%q)", a.code, a.raw, fc.added)
	}
	if a := e.do("POST", "/edge/v1/cluster/members", `{"node":""}`); a.code != 400 {
		t.Fatalf("add member without a name: %d %s", a.code, a.raw)
	}
	if a := e.do("DELETE", "/edge/v1/cluster/members/edge-c", ""); a.code != 200 || fc.removed != "edge-c" {
		t.Fatalf("remove member: %d %s", a.code, a.raw)
	}
	if st := e.do("GET", "/edge/v1/status", ""); !strings.Contains(st.raw, `"cluster":{"node":"edge-a"`) {
		t.Fatalf("status lacks the cluster: %s", st.raw)
	}

	cut := error(errors.Join(db.ErrNoQuorum, errors.New("no leader known")))
	fc.unhealthy.Store(&cut)
	time.Sleep(readyInterval) // readyz keeps its answer that long
	if a := e.do("GET", "/readyz", ""); a.code != 503 || !strings.Contains(a.raw, "quorum") {
		t.Fatalf("readyz of a member without quorum: %d %s", a.code, a.raw)
	}
	e.store.SetReplicator(noQuorum{})
	a = e.call(`{"phone":"030 1234567","channelId":"cut-1"}`)
	if a.code != 503 || !strings.Contains(a.raw, "quorum") || a.hdr.Get("Retry-After") == "" {
		t.Fatalf("callReceived on a member without quorum: %d %s", a.code, a.raw)
	}
	if a := e.do("GET", "/api/mind/telephony/getRouting?channelId=cut-1", ""); a.code != 503 {
		t.Fatalf("getRouting on a member without quorum: %d %s", a.code, a.raw)
	}
}

// A single appliance has no cluster routes.
func TestNoClusterRoutesAlone(t *testing.T) {
	e := newEnv(t)
	if a := e.do("GET", "/edge/v1/cluster", ""); a.code != 404 {
		t.Fatalf("GET /edge/v1/cluster alone: %d %s", a.code, a.raw)
	}
	if strings.Contains(e.scrape(), "edge_cluster_") {
		t.Fatal("a single appliance exports cluster metrics")
	}
}
