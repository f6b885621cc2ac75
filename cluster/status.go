package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Status is what GET /edge/v1/cluster and `enneo-edge cluster status`
// show about this member and the cluster as it sees it.
type Status struct {
	Node             string    `json:"node"`
	Role             string    `json:"role"` // leader, follower, candidate, shutdown
	Leader           string    `json:"leader"`
	LeaderAddr       string    `json:"leaderAddr"`
	Term             uint64    `json:"term"`
	AppliedIndex     uint64    `json:"appliedIndex"`
	CommitIndex      uint64    `json:"commitIndex"`
	LastLeaderChange time.Time `json:"lastLeaderChange"`
	LeaderChanges    int64     `json:"leaderChanges"`
	// Healthy is empty when this member reaches a quorum, else why not.
	Unhealthy string `json:"unhealthy,omitempty"`
	// Refused is the latest peer refused in the last minute because its
	// site.id or routing settings differ from this member's (either side
	// of the handshake), else empty.
	Refused string `json:"refused,omitempty"`
	// ClockAheadMillis is how far this member's clock ran ahead of the
	// members' median when it last measured it, as leader (negative:
	// behind; 0: never led). Beyond MaxStampAhead its stamps were held
	// back to that bound, and it logged a warning.
	ClockAheadMillis int64    `json:"clockAheadMillis,omitempty"`
	Members          []Member `json:"members"`
}

// Member is one server of raft's configuration.
type Member struct {
	Node     string `json:"node"`
	Addr     string `json:"addr"`
	Suffrage string `json:"suffrage"`
	// Lag is how many entries the member has applied fewer than this one
	// (-1: it did not answer).
	Lag int64 `json:"lag"`
}

// refusalShown is how long Status shows a settings refusal: raft redials
// a refused peer every few seconds, so a mismatch that lasts stays shown.
const refusalShown = time.Minute

// Status reports this member; with lags it asks every other member how
// far it has applied (a short RPC each, in parallel).
func (n *Node) Status(ctx context.Context, lags bool) Status {
	addr, id := n.r.LeaderWithID()
	st := Status{
		Node: n.o.Node, Role: roleName(n.r.State()), Leader: string(id), LeaderAddr: string(addr),
		Term: n.r.CurrentTerm(), AppliedIndex: n.fsm.appliedIndex(), CommitIndex: n.r.CommitIndex(),
		LeaderChanges: n.leaderChanges.Load(), ClockAheadMillis: n.ClockAhead().Milliseconds(),
	}
	if t := n.lastChange.Load(); t != nil {
		st.LastLeaderChange = *t
	}
	if err := n.Healthy(); err != nil {
		st.Unhealthy = err.Error()
	}
	st.Refused = n.mux.recentRefusal(refusalShown)
	f := n.r.GetConfiguration()
	if wait(ctx, f) != nil {
		return st
	}
	servers := f.Configuration().Servers
	st.Members = make([]Member, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		st.Members[i] = Member{Node: string(s.ID), Addr: n.addrOf(s.ID, s.Address), Suffrage: s.Suffrage.String()}
		if string(s.ID) == n.o.Node || !lags {
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			var theirs uint64
			if _, err := n.peers.call(cctx, st.Members[i].Addr, "Cluster.Applied", 0, &theirs); err != nil {
				st.Members[i].Lag = -1
				return
			}
			st.Members[i].Lag = max(0, int64(st.AppliedIndex)-int64(theirs))
		})
	}
	wg.Wait()
	return st
}

func roleName(s raft.RaftState) string {
	switch s {
	case raft.Leader:
		return "leader"
	case raft.Follower:
		return "follower"
	case raft.Candidate:
		return "candidate"
	}
	return "shutdown"
}

// Healthy is nil when this member reaches a quorum: it leads (a leader
// that loses its majority steps down within the leader lease), or it
// follows a leader it heard from within contactMax. readyz reports it.
func (n *Node) Healthy() error {
	if err := n.fsm.Failed(); err != nil {
		return err
	}
	if err := n.fsm.Stalled(); err != nil {
		return err
	}
	switch n.r.State() {
	case raft.Leader:
		return nil
	case raft.Follower:
		if _, id := n.r.LeaderWithID(); id == "" {
			return fmt.Errorf("%w: no leader known", ErrNoQuorum)
		}
		if age := time.Since(n.r.LastContact()); age > contactMax {
			return fmt.Errorf("%w: last contact with the leader %s ago", ErrNoQuorum, age.Round(time.Millisecond))
		}
		return n.reachLeader()
	}
	return fmt.Errorf("%w: %s, no leader", ErrNoQuorum, roleName(n.r.State()))
}

// ErrNotLeader is a membership change asked of a member that does not
// lead and could not forward it.
var ErrNotLeader = errors.New("cluster: membership changes go through the leader, and none is reachable")

// MemberArgs name a member to add or remove.
type MemberArgs struct {
	Node, Addr string
	Remove     bool
}

// AddVoter makes node at addr a voting member (on the leader; a follower
// forwards the change).
func (n *Node) AddVoter(ctx context.Context, node, addr string) error {
	return n.changeMembers(ctx, MemberArgs{Node: node, Addr: addr})
}

// RemoveMember takes node out of the cluster.
func (n *Node) RemoveMember(ctx context.Context, node string) error {
	return n.changeMembers(ctx, MemberArgs{Node: node, Remove: true})
}

func (n *Node) changeMembers(ctx context.Context, a MemberArgs) error {
	if n.IsLeader() {
		return n.changeLocal(a)
	}
	addr, id := n.r.LeaderWithID()
	if id == "" {
		return ErrNotLeader
	}
	var ok bool
	if _, err := n.peers.call(ctx, n.addrOf(id, addr), "Cluster.Members", a, &ok); err != nil {
		return fmt.Errorf("leader %s: %w", id, err)
	}
	return nil
}

func (n *Node) changeLocal(a MemberArgs) error {
	var f raft.IndexFuture
	if a.Remove {
		f = n.r.RemoveServer(raft.ServerID(a.Node), 0, applyTimeout)
	} else {
		f = n.r.AddVoter(raft.ServerID(a.Node), raft.ServerAddress(a.Addr), 0, applyTimeout)
	}
	if err := f.Error(); err != nil {
		return fmt.Errorf("cluster: change members: %w", err)
	}
	return nil
}

// Members changes the membership for a follower (forward.go's service).
func (s *Service) Members(a MemberArgs, ok *bool) error {
	if !s.n.started.Load() || !s.n.IsLeader() {
		return ErrNotLeader
	}
	*ok = true
	return s.n.changeLocal(a)
}

// reachLeader is nil when this follower's own connections reach the
// leader's cluster port: its writes and reads are forwarded over them, so
// a follower that hears the leader (its heartbeats come over connections
// the leader dialled) but cannot dial it refuses every write and must not
// say it is ready (keepalived would keep the address on it). A forwarded
// call that succeeded within contactMax counts; otherwise one probe
// (Cluster.Applied) asks, and its failure is remembered for a second so a
// flood of /readyz costs at most one RPC a second.
func (n *Node) reachLeader() error {
	now := time.Now()
	if now.Sub(time.Unix(0, n.reached.Load())) <= contactMax {
		return nil
	}
	n.probeMu.Lock()
	defer n.probeMu.Unlock()
	if now.Sub(n.probeAt) < time.Second {
		return n.probeErr
	}
	addr, id := n.r.LeaderWithID()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var idx uint64
	_, err := n.peers.call(ctx, n.addrOf(id, addr), "Cluster.Applied", 0, &idx)
	n.probeAt, n.probeErr = time.Now(), nil
	if err != nil {
		n.probeErr = fmt.Errorf("%w: the leader %s does not answer on its cluster port: %v", ErrNoQuorum, id, err)
		return n.probeErr
	}
	n.reached.Store(time.Now().UnixNano())
	return nil
}
