package cluster

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/internal/edgetest"
)

// A call taken by a follower is forwarded to the leader, answered by the
// follower, and readable at once (linearizably) on the third member with
// the same ID; the same channelId on another member is the same ticket.
func TestCallOnFollowerReadOnAnother(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.startAll()
	l := c.leader()
	f := c.follower(l)
	other := c.follower(l, f)

	res := call(t, c.members[f].store, "ch-1")
	if res.Answer.TicketID == 0 {
		t.Fatal("no ticket ID")
	}
	tk, _, err := c.members[other].store.Ticket(res.Answer.TicketID)
	if err != nil {
		t.Fatalf("read on %s right after the write on %s: %v", c.members[other].name, c.members[f].name, err)
	}
	if tk.ChannelID != "ch-1" {
		t.Fatalf("ticket on the other member has channel %q", tk.ChannelID)
	}
	again := call(t, c.members[other].store, "ch-1")
	if again.Answer.TicketID != res.Answer.TicketID {
		t.Fatalf("channelId repeated on another member got ticket %d, want %d", again.Answer.TicketID, res.Answer.TicketID)
	}
	// A use case's error survives the trip back from the leader.
	if _, err := c.members[f].store.CallCompleted(ctxT(t), completed(999)); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("callCompleted of an unknown ticket on a follower: %v, want ErrNotFound", err)
	}
	waitSame(t, c)
}

// The leader is shut down: a new one is elected, the survivors keep
// taking calls, every acknowledged ticket stays, and the old leader, back,
// catches up to the same state.
func TestLeaderLossKeepsCallsAndCatchesUp(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.startAll()
	l := c.leader()
	var ids []int64
	for i := range 5 {
		res := call(t, c.members[(l+i)%3].store, fmt.Sprintf("a-%d", i))
		ids = append(ids, res.Answer.TicketID)
	}
	c.stopMember(l)
	nl := c.leader()
	if nl == l {
		t.Fatal("the stopped member still leads")
	}
	f := c.follower(nl, l)
	for i := range 5 {
		res := call(t, c.members[f].store, fmt.Sprintf("b-%d", i))
		ids = append(ids, res.Answer.TicketID)
	}
	c.start(l)
	for _, id := range ids {
		edgetest.WaitFor(t, "the old leader to catch up", 10*time.Second, func() bool {
			_, _, err := c.members[l].store.Ticket(id)
			return err == nil
		})
	}
	waitSame(t, c)
}

// A member stopped and restarted gets only the entries it missed: its
// file's applied index tells raft's replay what to skip.
func TestRestartReplaysOnlyMissing(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.startAll()
	l := c.leader()
	f := c.follower(l)
	for i := range 20 {
		call(t, c.members[l].store, fmt.Sprintf("x-%d", i))
		// Not idempotent: applied twice, it would queue a second record.
		if _, err := c.members[f].store.AppendOutbox(ctxT(t), db.OutboxRecord{Kind: db.KindRoutingStatus, UserID: int64(i + 1), Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	waitSame(t, c)
	c.stopMember(f)
	for i := range 3 {
		call(t, c.members[l].store, fmt.Sprintf("y-%d", i))
	}
	c.start(f)
	waitSame(t, c)
	m := c.members[f]
	if got := m.count.fresh.Load(); got != 3 {
		t.Fatalf("the restarted member applied %d commands anew, want the 3 it missed", got)
	}
	// raft re-delivers the whole log without a snapshot; Apply skips
	// what the file holds.
	if m.count.handed.Load() < 3 {
		t.Fatalf("handed %d commands", m.count.handed.Load())
	}
}

// With a small snapshot threshold the log is compacted; a member that
// lost its database file entirely gets the leader's snapshot installed
// (db.Store.Restore) and ends with the same state.
func TestSnapshotInstallsOnAMemberThatLostItsFile(t *testing.T) {
	c := newTestCluster(t, 3, func(o *Options) { o.SnapshotThreshold = 16 })
	c.startAll()
	l := c.leader()
	f := c.follower(l)
	c.stopMember(f)
	for i := range 80 {
		call(t, c.members[l].store, fmt.Sprintf("s-%d", i))
	}
	// Force a snapshot and compaction on the leader.
	if err := c.members[l].node.r.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	// The member loses everything: database and raft state.
	wipe(t, c.members[f].dir)
	c.start(f)
	waitSame(t, c)
	applied, err := c.members[f].store.AppliedIndex()
	if err != nil || applied == 0 {
		t.Fatalf("applied index after the restore: %d, %v", applied, err)
	}
}

// A member restarted with its database but a newer snapshot on disk keeps
// its file (Restore skips a snapshot the file already holds).
func TestRestartKeepsFileNewerThanSnapshot(t *testing.T) {
	c := newTestCluster(t, 3, func(o *Options) { o.SnapshotThreshold = 16 })
	c.startAll()
	l := c.leader()
	f := c.follower(l)
	for i := range 40 {
		call(t, c.members[l].store, fmt.Sprintf("k-%d", i))
	}
	waitSame(t, c)
	if err := c.members[f].node.r.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	// The file moves past the snapshot.
	for i := range 5 {
		call(t, c.members[l].store, fmt.Sprintf("k2-%d", i))
	}
	waitSame(t, c)
	before, _ := c.members[f].store.AppliedIndex()
	c.stopMember(f)
	c.start(f)
	after, _ := c.members[f].store.AppliedIndex()
	if after < before {
		t.Fatalf("applied index went back from %d to %d over a restart", before, after)
	}
	if n := c.members[f].count.fresh.Load(); n != 0 {
		t.Fatalf("restart applied %d commands anew, want none", n)
	}
	waitSame(t, c)
}

// waitSame waits until every running member holds the same state.
func waitSame(t *testing.T, c *testCluster) {
	t.Helper()
	var last string
	edgetest.WaitFor(t, "the members to hold the same state", 10*time.Second, func() bool {
		var first string
		for i, m := range c.members {
			if m.node == nil {
				continue
			}
			d := dump(t, m.store)
			if first == "" {
				first = d
				continue
			}
			if d != first {
				last = fmt.Sprintf("%s differs", m.name)
				_ = i
				return false
			}
		}
		return true
	})
	_ = last
}

// A member whose raft state is gone but whose database applied entries
// refuses to start: a new log would restart at index 1 and every entry up
// to the file's index would be skipped.
func TestRefusesFileAheadOfLostRaftState(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.startAll()
	l := c.leader()
	f := c.follower(l)
	call(t, c.members[l].store, "r-1")
	waitSame(t, c)
	c.stopMember(f)
	wipe(t, filepath.Join(c.members[f].dir, "raft"))
	m := c.members[f]
	store, err := db.Open(filepath.Join(m.dir, "edge.db"), db.Options{SiteID: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Options{Node: m.name, Listener: ln, Peers: []Peer{{ID: m.name, Addr: ln.Addr().String()}}, Secret: testSecret,
		Dir: filepath.Join(m.dir, "raft"), Store: store, Settings: settingsOf("test")})
	if err == nil || !strings.Contains(err.Error(), "raft state") {
		t.Fatalf("start with a file ahead of a lost raft state: %v", err)
	}
}

// A fourth member started with the members' list and itself finds a
// running cluster, does not bootstrap a log of its own, and once added
// through a follower catches up; removed, it leaves the configuration.
func TestAddAndRemoveMember(t *testing.T) {
	c := newTestCluster(t, 4, nil)
	c.initial = 3
	c.startAll()
	l := c.leader()
	for i := range 5 {
		call(t, c.members[l].store, fmt.Sprintf("m-%d", i))
	}
	c.start(3)
	d := c.members[3]
	if d.node.hasState.Load() {
		t.Fatal("the new member bootstrapped a log of its own")
	}
	f := c.follower(l, 3)
	if err := c.members[f].node.AddVoter(ctxT(t), d.name, d.addr); err != nil {
		t.Fatalf("add through a follower: %v", err)
	}
	waitSame(t, c)
	st := c.members[l].node.Status(ctxT(t), true)
	if len(st.Members) != 4 {
		t.Fatalf("members after add: %+v", st.Members)
	}
	res := call(t, d.store, "via-new-member")
	if _, _, err := c.members[l].store.Ticket(res.Answer.TicketID); err != nil {
		t.Fatalf("a call through the new member: %v", err)
	}
	if err := c.members[l].node.RemoveMember(ctxT(t), d.name); err != nil {
		t.Fatalf("remove: %v", err)
	}
	edgetest.WaitFor(t, "the member to leave the configuration", 10*time.Second, func() bool {
		return len(c.members[c.leader()].node.Status(ctxT(t), false).Members) == 3
	})
}
