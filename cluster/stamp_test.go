package cluster

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/enneo-edge/enneo-edge/db"
)

// behind is a clock an hour behind the wall clock: a member without NTP.
type behind struct{}

func (behind) Now() time.Time                         { return time.Now().Add(-time.Hour) }
func (behind) After(d time.Duration) <-chan time.Time { return time.After(d) }

// A new leader whose clock is behind the old one's never stamps a command
// before one already applied: every use case takes its time from the
// stamp, so a stamp going back would hold ring and after-call timers
// for the clocks' difference and date tickets before their predecessors.
func TestNewLeaderNeverStampsBackwards(t *testing.T) {
	c := newTestCluster(t, 3, func(o *Options) {
		if o.Node == "edge-c" {
			o.Clock = behind{}
		}
	})
	c.startAll()
	l := c.leader()
	if l == 2 {
		if err := c.members[2].node.r.LeadershipTransferToServer("edge-a", raft.ServerAddress(c.members[0].addr)).Error(); err != nil {
			t.Fatalf("transfer to edge-a: %v", err)
		}
		l = c.waitLeader(0)
	}
	first := call(t, c.members[l].store, "stamp-1")
	if err := c.members[l].node.r.LeadershipTransferToServer("edge-c", raft.ServerAddress(c.members[2].addr)).Error(); err != nil {
		t.Fatalf("transfer to edge-c: %v", err)
	}
	c.waitLeader(2)
	second := call(t, c.members[2].store, "stamp-2")
	t1, _, err := c.members[2].store.Ticket(first.Answer.TicketID)
	if err != nil {
		t.Fatal(err)
	}
	t2, _, err := c.members[2].store.Ticket(second.Answer.TicketID)
	if err != nil {
		t.Fatal(err)
	}
	if t2.CreatedAt.Before(t1.CreatedAt) {
		t.Fatalf("the second ticket, stamped by edge-c (clock an hour behind), is dated %s, before the first (%s)",
			t2.CreatedAt, t1.CreatedAt)
	}
}

// waitLeader waits until member i leads.
func (c *testCluster) waitLeader(i int) int {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c.members[i].node.IsLeader() {
			return i
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("%s did not become leader", c.members[i].name)
	return -1
}

// The leader's own work appends only while it leads: on a member that
// does not (an old leader that woke up after a new one took over) a
// write through LeaderOnly fails and reaches no log, where Submit would
// have forwarded it to the new leader behind its look-ups.
func TestLeaderOnlyWorkIsNotForwarded(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.startAll()
	l := c.leader()
	f := c.follower(l)
	ctx := ctxT(t)
	lease := func() uint64 {
		t.Helper()
		n, err := c.members[l].store.SendLease()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := lease()
	err := c.members[f].store.WithReplicator(c.members[f].node.LeaderOnly()).ExtendSendLease(ctx, before+4096)
	if !errors.Is(err, db.ErrNoQuorum) {
		t.Fatalf("leader-only write on a follower: %v, want ErrNoQuorum", err)
	}
	if got := lease(); got != before {
		t.Fatalf("the follower's leader-only write reached the log: lease %d, was %d", got, before)
	}
	if err := c.members[l].store.WithReplicator(c.members[l].node.LeaderOnly()).ExtendSendLease(ctx, before+4096); err != nil {
		t.Fatalf("leader-only write on the leader: %v", err)
	}
	if got := lease(); got != before+4096 {
		t.Fatalf("lease %d after the leader's extension, want %d", got, before+4096)
	}
}

// ahead is a clock an hour ahead of the wall clock: a VM before NTP
// synced it.
type ahead struct{}

func (ahead) Now() time.Time                         { return time.Now().Add(time.Hour) }
func (ahead) After(d time.Duration) <-chan time.Time { return time.After(d) }

// A leader whose clock runs an hour ahead stamps at most MaxStampAhead
// ahead of the others' clocks, and says so (Status); the stamps never go
// backwards, and once it no longer leads the next leader does not stamp
// into its future beyond the bound either. Unbounded, the floor would
// carry its hour to every later leader: timers would fire an hour early
// and time would stand still for the cluster.
func TestLeaderAheadStampsWithinTheBound(t *testing.T) {
	c := newTestCluster(t, 3, func(o *Options) {
		if o.Node == "edge-c" {
			o.Clock = ahead{}
		}
	})
	c.startAll()
	c.lead(0)
	first := call(t, c.members[0].store, "ahead-1")
	c.lead(2)
	second := call(t, c.members[2].store, "ahead-2")
	if got := c.members[2].node.Status(ctxT(t), false).ClockAheadMillis; time.Duration(got)*time.Millisecond < 59*time.Minute {
		t.Fatalf("edge-c (an hour ahead) reports its clock %d ms ahead, want about an hour", got)
	}
	c.lead(0)
	third := call(t, c.members[0].store, "ahead-3")
	var created []time.Time
	for _, res := range []db.CallResult{first, second, third} {
		tk, _, err := c.members[1].store.Ticket(res.Answer.TicketID)
		if err != nil {
			t.Fatal(err)
		}
		created = append(created, tk.CreatedAt)
	}
	limit := time.Now().Add(MaxStampAhead + 5*time.Second)
	for i, at := range created {
		if at.After(limit) {
			t.Fatalf("ticket %d is dated %s, beyond the bound of %s ahead of the wall clock", i+1, at, MaxStampAhead)
		}
		if i > 0 && at.Before(created[i-1]) {
			t.Fatalf("ticket %d is dated %s, before ticket %d (%s)", i+1, at, i, created[i-1])
		}
	}
	if got := c.members[0].node.Status(ctxT(t), false).ClockAheadMillis; got > (5 * time.Second).Milliseconds() {
		t.Fatalf("edge-a (on time) reports its clock %d ms ahead", got)
	}
}
