package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/internal/edgetest"
)

// tinyCap is a storage.max_size_bytes a few hundred calls fill.
const tinyCap = 1 << 20

// lead makes member i the leader (a transfer if another one leads).
func (c *testCluster) lead(i int) {
	c.t.Helper()
	l := c.leader()
	if l == i {
		return
	}
	if err := c.members[l].node.r.LeadershipTransferToServer(raft.ServerID(c.members[i].name), raft.ServerAddress(c.members[i].addr)).Error(); err != nil {
		c.t.Fatalf("transfer to %s: %v", c.members[i].name, err)
	}
	c.waitLeader(i)
}

// A leader whose file is at its cap refuses the write before appending it
// (ErrFull, which the server answers 503 with Retry-After), as a single
// appliance does: no member's state machine fails, reads go on, the
// members hold the same state, and once the cap is raised writes succeed.
// Without the check the write is committed, the leader cannot apply it
// and every member's state machine is at stake.
func TestLeaderRefusesWriteItHasNoRoomFor(t *testing.T) {
	capped := int64(tinyCap)
	c := newTestCluster(t, 3, nil)
	c.storeOpts = func(i int, o *db.Options) {
		if i == 0 {
			o.MaxSize = capped
		}
	}
	c.startAll()
	c.lead(0)
	f := c.follower(0)
	var acked []int64
	var err error
	for i := 0; i < 20000; i++ {
		var res db.CallResult
		if res, err = c.members[f].store.CreateCall(ctxT(t), testCall(fmt.Sprintf("full-%d", i))); err != nil {
			break
		}
		acked = append(acked, res.Answer.TicketID)
	}
	if !errors.Is(err, db.ErrFull) {
		t.Fatalf("a write beyond the leader's cap, forwarded by %s: %v, want ErrFull", c.members[f].name, err)
	}
	t.Logf("%d calls fitted: %v", len(acked), err)
	if _, err := c.members[0].store.CreateCall(ctxT(t), testCall("full-on-leader")); !errors.Is(err, db.ErrFull) {
		t.Fatalf("a write beyond the cap on the leader: %v, want ErrFull", err)
	}
	for i, m := range c.members {
		if err := m.node.Failed(); err != nil {
			t.Fatalf("%s failed: %v", c.members[i].name, err)
		}
		if err := m.node.Healthy(); err != nil {
			t.Fatalf("%s unhealthy after refused writes: %v", c.members[i].name, err)
		}
	}
	for _, i := range []int{0, f} {
		if _, _, err := c.members[i].store.Ticket(acked[len(acked)-1]); err != nil {
			t.Fatalf("read on %s after refused writes: %v", c.members[i].name, err)
		}
	}
	waitSame(t, c)

	// The operator raises the cap (a restart).
	capped = 0
	c.stopMember(0)
	c.start(0)
	c.leader()
	call(t, c.members[0].store, "after-the-cap-was-raised")
	waitSame(t, c)
}

// A follower whose file has no room for a committed batch (a smaller cap
// or disk than the leader's) neither skips it (its state would split from
// the others') nor fails for good: applying waits, readyz says why, and
// once it has room (here: a restart with a larger cap) it applies what it
// missed and holds the same state as the others.
func TestFollowerWithoutRoomWaitsThenCatchesUp(t *testing.T) {
	capped := int64(tinyCap)
	c := newTestCluster(t, 3, nil)
	c.storeOpts = func(i int, o *db.Options) {
		if i == 2 {
			o.MaxSize = capped
		}
	}
	c.startAll()
	c.lead(0)
	small := c.members[2].node
	for i := 0; small.fsm.Stalled() == nil; i++ {
		if i == 20000 || small.Failed() != nil {
			t.Fatalf("the capped follower never waited for room (failed: %v)", small.Failed())
		}
		call(t, c.members[0].store, fmt.Sprintf("fill-%d", i))
	}
	if err := small.Healthy(); !errors.Is(err, db.ErrFull) {
		t.Fatalf("readiness of the follower without room: %v, want ErrFull", err)
	}
	if err := small.Failed(); err != nil {
		t.Fatalf("the follower without room failed instead of waiting: %v", err)
	}
	// The others go on.
	call(t, c.members[1].store, "while-one-waits")

	capped = 0
	start := time.Now()
	c.stopMember(2) // must not hang on the waiting state machine
	t.Logf("closed the waiting member in %s", time.Since(start))
	c.start(2)
	waitSame(t, c)
	if err := c.members[2].node.fsm.Stalled(); err != nil {
		t.Fatalf("still waiting after the cap was raised: %v", err)
	}
}

// fullStore answers ErrFull from Apply while full is set: a disk filled
// by something else than the database, which RoomFor cannot foresee.
type fullStore struct {
	Store
	full *atomic.Bool
}

func (s fullStore) Apply(ctx context.Context, idx []uint64, cmds [][]byte) ([]db.Applied, error) {
	if s.full.Load() {
		return nil, fmt.Errorf("apply: %w (test)", db.ErrFull)
	}
	return s.Store.Apply(ctx, idx, cmds)
}

// A leader whose database has no room for a committed batch hands its
// role over, so the others serve writes while it waits; once it has room
// again it resumes by itself (no restart) and holds the same state.
func TestStalledLeaderHandsOverAndResumes(t *testing.T) {
	var full atomic.Bool
	c := newTestCluster(t, 3, func(o *Options) {
		if o.Node == "edge-a" {
			o.Store = fullStore{Store: o.Store, full: &full}
		}
	})
	c.startAll()
	c.lead(0)
	call(t, c.members[1].store, "before-full")
	full.Store(true)
	start := time.Now()
	call(t, c.members[1].store, "while-full") // retried with its channelId across the hand-over
	t.Logf("the write while full took %s", time.Since(start))
	edgetest.WaitFor(t, "edge-a to hand its leadership over", 10*time.Second, func() bool {
		return !c.members[0].node.IsLeader()
	})
	if err := c.members[0].node.Healthy(); !errors.Is(err, db.ErrFull) {
		t.Fatalf("readiness of the stalled member: %v, want ErrFull", err)
	}
	call(t, c.members[2].store, "after-hand-over")
	full.Store(false)
	start = time.Now()
	edgetest.WaitFor(t, "edge-a to resume applying", 3*fullRetry, func() bool {
		return c.members[0].node.fsm.Stalled() == nil
	})
	t.Logf("resumed %s after room was back", time.Since(start))
	if err := c.members[0].node.Failed(); err != nil {
		t.Fatalf("the stalled member failed: %v", err)
	}
	waitSame(t, c)
}
