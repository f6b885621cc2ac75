package cluster

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/enneo-edge/enneo-edge/db"
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
