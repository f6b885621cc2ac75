package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/rpc"
	"time"

	"github.com/hashicorp/raft"

	"github.com/enneo-edge/enneo-edge/db"
)

var _ db.Replicator = (*Node)(nil)

// Submit appends cmd through the leader and returns what the leader's
// store answered (db.Replicator). On a follower it is forwarded; a member
// that finds no reachable leader within forwardWait answers ErrNoQuorum
// (nothing appended); a forwarded command whose answer is lost answers
// ErrUnknownOutcome. It never retries a command that may have been
// appended.
func (n *Node) Submit(ctx context.Context, cmd []byte) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, applyTimeout)
		defer cancel()
	}
	giveUp := time.Now().Add(forwardWait)
	for {
		res, retry, err := n.submitOnce(ctx, cmd)
		if !retry {
			return res, err
		}
		if time.Now().After(giveUp) || ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoQuorum, err)
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		case <-n.done:
			return nil, fmt.Errorf("%w: this member is shutting down", ErrNoQuorum)
		}
	}
}

// submitOnce tries the current leader once; retry says nothing was
// appended and another try may succeed.
func (n *Node) submitOnce(ctx context.Context, cmd []byte) (res []byte, retry bool, err error) {
	if n.IsLeader() {
		res, err := n.applyLocal(ctx, cmd)
		if errors.Is(err, errNotAppended) {
			return nil, true, err
		}
		return res, false, err
	}
	addr, id := n.r.LeaderWithID()
	if id == "" || string(id) == n.o.Node {
		return nil, true, errors.New("no leader known")
	}
	var rep ApplyReply
	dl, _ := ctx.Deadline()
	args := ApplyArgs{Cmd: cmd, TimeoutNanos: int64(time.Until(dl))}
	sent, err := n.peers.call(ctx, n.addrOf(id, addr), "Cluster.Apply", args, &rep)
	if err == nil {
		n.reached.Store(time.Now().UnixNano())
	}
	switch {
	case err != nil && !sent:
		return nil, true, fmt.Errorf("leader %s: %w", id, err)
	case err != nil:
		return nil, false, fmt.Errorf("%w: forwarded to leader %s: %v", ErrUnknownOutcome, id, err)
	case rep.NotLeader:
		return nil, true, fmt.Errorf("%s no longer leads", id)
	case rep.Failed:
		return nil, false, decodeErr(rep.ErrCode, rep.ErrMsg)
	}
	return rep.Result, false, nil
}

// applyLocal appends cmd on this member, which must lead, stamped with
// its clock (never before the previous stamp), and waits until it is
// committed on a quorum and applied here.
func (n *Node) applyLocal(ctx context.Context, cmd []byte) ([]byte, error) {
	if !n.IsLeader() {
		return nil, errNotAppended
	}
	// Once on the log a command must be applied by every member: one the
	// leader's file has no room for is refused here (ErrFull, 503), as a
	// single appliance refuses it, instead of failing the state machines.
	if err := n.o.Store.RoomFor(cmd); err != nil {
		return nil, err
	}
	db.StampCommand(cmd, n.stamp())
	timeout := applyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	f := n.r.Apply(cmd, timeout)
	if err := wait(ctx, f); err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader):
			return nil, errNotAppended
		case errors.Is(err, raft.ErrEnqueueTimeout):
			return nil, fmt.Errorf("%w: %v", ErrNoQuorum, err)
		case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrRaftShutdown):
			return nil, fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
	}
	r, ok := f.Response().(applyResult)
	if !ok {
		return nil, fmt.Errorf("%w: unexpected response %T", ErrUnknownOutcome, f.Response())
	}
	return r.res, r.err
}

// stamp is the leader's clock for a new command, never before the last
// stamp it gave nor before any command it applied (fsm.stamps), and never
// more than MaxStampAhead ahead of the members' median clock.
func (n *Node) stamp() time.Time {
	// A new leader may append before its state machine has applied the
	// entries of earlier terms (raft does not wait for that): in a new term
	// the floor first rises to the newest command its log holds, which
	// includes every committed one.
	// It also measures its clock against the others' before it stamps
	// (boundStamp holds a clock far ahead back).
	if term := n.r.CurrentTerm(); n.stampTerm.Load() != term {
		n.stampMu.Lock()
		if n.stampTerm.Load() != term {
			raiseStamp(&n.lastStamp, newestStamp(n.logs))
			ctx, cancel := context.WithTimeout(context.Background(), 2*clockCallTimeout)
			n.setAhead(n.measureAhead(ctx))
			cancel()
			n.stampTerm.Store(term)
		}
		n.stampMu.Unlock()
	}
	now := n.boundStamp(n.clock.Now().UnixNano())
	for {
		last := n.lastStamp.Load()
		if now <= last {
			now = last + 1
		}
		if n.lastStamp.CompareAndSwap(last, now) {
			return time.Unix(0, now)
		}
	}
}

// readIndex confirms this member leads a quorum (raft's VerifyLeader, one
// heartbeat round shared by concurrent reads) and returns the index a read
// must wait for: its last log index, which covers every write
// acknowledged before the read began.
func (n *Node) readIndex(ctx context.Context) (uint64, error) {
	if !n.IsLeader() {
		return 0, errNotAppended
	}
	if err := wait(ctx, n.r.VerifyLeader()); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrNoQuorum, err)
	}
	return n.r.LastIndex(), nil
}

// Barrier makes a read linearizable (db.Replicator): it learns the read
// index from the leader (itself or by RPC) and waits until this member
// has applied up to it. A member that knows no leader yet (just started,
// or an election is running) keeps asking for up to forwardWait, as
// Submit does, before it answers ErrNoQuorum.
func (n *Node) Barrier(ctx context.Context) error {
	giveUp := time.Now().Add(forwardWait)
	for {
		idx, retry, err := n.readIndexOnce(ctx)
		if err == nil {
			return n.waitApplied(ctx, idx)
		}
		if !retry || time.Now().After(giveUp) || ctx.Err() != nil {
			return err
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
		case <-n.done:
			return fmt.Errorf("%w: this member is shutting down", ErrNoQuorum)
		}
	}
}

// readIndexOnce asks the current leader for the read index once; retry
// says no leader was known (or it no longer led) and another try may find
// one.
func (n *Node) readIndexOnce(ctx context.Context) (idx uint64, retry bool, err error) {
	if n.IsLeader() {
		i, err := n.readIndex(ctx)
		if errors.Is(err, errNotAppended) {
			return 0, true, fmt.Errorf("%w: %v", ErrNoQuorum, err)
		}
		return i, false, err
	}
	addr, id := n.r.LeaderWithID()
	if id == "" || string(id) == n.o.Node {
		return 0, true, fmt.Errorf("%w: no leader known", ErrNoQuorum)
	}
	var i uint64
	if _, err := n.peers.call(ctx, n.addrOf(id, addr), "Cluster.ReadIndex", 0, &i); err != nil {
		// Asking for the read index changes nothing, so a connection that
		// failed (one cached from before a partition healed or the leader
		// restarted: the call dials afresh next time) is asked again; the
		// leader's own answer (rpc.ServerError) is final.
		var se rpc.ServerError
		return 0, !errors.As(err, &se), fmt.Errorf("%w: read index from leader %s: %v", ErrNoQuorum, id, err)
	}
	return i, false, nil
}

// waitApplied returns once this member's database holds every entry up
// to idx. The state machine only sees commands (and configurations):
// when the entries after what it applied up to idx are all of raft's own
// (the no-op a new leader appends, barriers) and raft has processed them,
// there is nothing left to wait for. raft signals nothing for those, so
// that case is polled.
func (n *Node) waitApplied(ctx context.Context, idx uint64) error {
	for {
		ch := n.fsm.changed()
		a := n.fsm.appliedIndex()
		if a >= idx {
			return nil
		}
		if err := n.fsm.Failed(); err != nil {
			return err
		}
		if n.r.AppliedIndex() >= idx && n.onlyRaftEntries(a+1, idx) {
			return nil
		}
		select {
		case <-ch:
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("%w: this member has not caught up with the leader (applied %d, need %d)", ErrNoQuorum, a, idx)
		}
	}
}

// onlyRaftEntries reports whether the log entries from..to hold nothing
// for the state machine.
func (n *Node) onlyRaftEntries(from, to uint64) bool {
	for i := from; i <= to; i++ {
		var l raft.Log
		if err := n.logs.GetLog(i, &l); err != nil {
			return false
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return false
		}
	}
	return true
}

// LeaderOnly is the path to the log for the work only the leader does
// (timers, the forwarder, the pruner): it appends while this member leads
// and never forwards. Through Submit, an old leader that woke up after a
// new one took over would have its forwarder's lease extension or
// delivery marks appended by the new leader, behind the new leader's
// look-ups; this way they fail, and the old term's work stops.
func (n *Node) LeaderOnly() db.Replicator { return leaderOnly{n} }

type leaderOnly struct{ n *Node }

func (l leaderOnly) Submit(ctx context.Context, cmd []byte) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, applyTimeout)
		defer cancel()
	}
	res, err := l.n.applyLocal(ctx, cmd)
	if errors.Is(err, errNotAppended) {
		return nil, fmt.Errorf("%w: this member no longer leads; its leader-only work stops", ErrNoQuorum)
	}
	return res, err
}

func (l leaderOnly) Barrier(ctx context.Context) error { return l.n.Barrier(ctx) }
