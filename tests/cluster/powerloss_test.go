package cluster

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/faultfs"
)

// TestPowerLossOnOneNode puts one node's data directory (its database and
// raft's files) on a fault file system that drops whatever was not synced,
// and makes that node's disk count: another node is SIGKILLed first, so
// every call acknowledged from then on needed this node's write. Calls
// arrive on the two running nodes when its power is cut (the fault file
// system's Cut, then SIGKILL); the other running node is then killed too.
// The power-cut node comes back on what its disk kept, with the node
// killed first (whose own log ends before the load): those two are a
// quorum and must have every acknowledged call. Then the third rejoins
// and all three hold the same tickets.
func TestPowerLossOnOneNode(t *testing.T) {
	faultfs.Require(t)
	const victim = 2 // edge-c
	backing, mnt := t.TempDir(), t.TempDir()
	mount := func() *faultfs.FS {
		fsys, err := faultfs.Mount(backing, mnt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = fsys.Unmount() }) // after the node's kill: cleanups run last first
		return fsys
	}
	fsys := mount()
	c := newCluster(t, options{dataDir: func(i int) string {
		if i == victim {
			return mnt
		}
		return t.TempDir()
	}})
	cut := c.nodes[victim]
	var other, first *node // other stays up with cut during the load; first is killed before it
	lead := c.waitLeader(30 * time.Second)
	for _, n := range c.nodes {
		switch {
		case n == cut:
		case n == lead || (lead == cut && other == nil):
			other = n
		default:
			first = n
		}
	}
	var rr atomic.Int64
	before := c.pbx(t, &rr)
	ack := newAcked()
	for i := range 20 {
		ch := fmt.Sprintf("pre-%d", i)
		a := before.must("POST", "/api/mind/telephony/callReceived", fmt.Sprintf(`{"routing":"none","channelId":%q}`, ch))
		ack.add(t, ch, kindProbe, num(a.Body["ticketId"]))
	}
	first.kill(t)
	c.waitLeaderAmong([]*node{cut, other}, 30*time.Second)
	s, _ := cut.status()
	t.Logf("%s killed; %s (%s, on the fault file system) and %s carry the load", first.name, cut.name, s.Role, other.name)

	// Calls on the two running nodes until the power cut.
	running := []*node{cut, other}
	load := startProbeLoad(t, ack, 6, "pl", func(int, int) *node { return running[rand.IntN(len(running))] })
	time.Sleep(time.Duration(500+rand.IntN(700)) * time.Millisecond)
	// Cut first: from here nothing of cut's reaches its disk, so an
	// answer that needed its write was given on what it had synced.
	if err := fsys.Cut(); err != nil {
		t.Fatal(err)
	}
	_ = cut.proc.Cmd.Process.Signal(syscall.SIGKILL) // it may have stopped on its first EIO
	<-cut.proc.Done
	other.kill(t)
	load.halt()
	if err := fsys.Unmount(); err != nil {
		t.Fatal(err)
	}
	t.Logf("the cut dropped %+v of %s's unsynced state", fsys.Dropped(), cut.name)
	ack.mu.Lock()
	acked := len(ack.tickets)
	ack.mu.Unlock()
	if acked <= 20 {
		t.Fatalf("no call was acknowledged before the power cut\n%s", cut.proc.Logs)
	}
	t.Logf("%d calls acknowledged, then the power of %s was cut and %s killed", acked-20, cut.name, other.name)

	// cut comes back on what its disk kept, with first: a quorum that has
	// only cut's disk for everything acknowledged since first died.
	mount()
	cut.start(t)
	first.start(t)
	c.waitLeaderAmong([]*node{cut, first}, 30*time.Second)
	ack.mu.Lock()
	for ch, id := range ack.tickets {
		for _, n := range []*node{cut, first} {
			a, err := do(statusClient, n.base, http.MethodGet, fmt.Sprintf("/edge/v1/tickets/%d", id), "")
			if err != nil || a.Code != http.StatusOK {
				t.Errorf("acknowledged ticket %d (%s) missing on %s after the power loss: %v %d %s", id, ch, n.name, err, a.Code, a.Raw)
			}
		}
	}
	ack.mu.Unlock()
	if t.Failed() {
		t.FailNow()
	}

	// The PBX retries what got no answer; the third node rejoins.
	p := c.pbxOn(t, &rr, cut, first)
	load.sent.Range(func(k, v any) bool {
		ch, body := k.(string), v.(string)
		ack.mu.Lock()
		_, ok := ack.tickets[ch]
		ack.mu.Unlock()
		if !ok {
			a := p.must("POST", "/api/mind/telephony/callReceived", body)
			ack.add(t, ch, kindProbe, num(a.Body["ticketId"]))
		}
		return true
	})
	other.start(t)
	c.waitLeader(30 * time.Second)
	settle(t, c, p)
	c.waitCaughtUp(30 * time.Second)
	c.verifyTickets(ack)
	c.verifyCentral(ack, p)
	c.checkFiles()
	c.verifyExports(ack)
}

// TestSitePowerLoss: the whole site loses power at once. Every member's
// data directory is on its own fault file system; while calls arrive all
// three are cut (what was not synced is gone) and killed. On what their
// disks kept they elect a leader again and hold every acknowledged call;
// the PBX's retries of the calls that got no answer make one ticket each.
func TestSitePowerLoss(t *testing.T) {
	faultfs.Require(t)
	backing := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	mnts := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	mountAll := func() []*faultfs.FS {
		var all []*faultfs.FS
		for i := range backing {
			fsys, err := faultfs.Mount(backing[i], mnts[i])
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = fsys.Unmount() })
			all = append(all, fsys)
		}
		return all
	}
	mounts := mountAll()
	c := newCluster(t, options{dataDir: func(i int) string { return mnts[i] }})
	ack := newAcked()
	load := startProbeLoad(t, ack, 6, "site", func(w, i int) *node { return c.nodes[(w+i)%len(c.nodes)] })
	time.Sleep(time.Duration(500+rand.IntN(700)) * time.Millisecond)
	// A torn cut: each unsynced page and size independently made it to
	// the disk or not, as the page cache writes back on its own.
	seed := rand.Uint64()
	var cuts sync.WaitGroup
	for i := range mounts {
		cuts.Go(func() {
			if err := mounts[i].CutTorn(seed + uint64(i)); err != nil {
				t.Error(err)
			}
		})
	}
	cuts.Wait()
	for _, n := range c.nodes {
		_ = n.proc.Cmd.Process.Signal(syscall.SIGKILL)
		<-n.proc.Done
	}
	load.halt()
	for i, m := range mounts {
		if err := m.Unmount(); err != nil {
			t.Fatal(err)
		}
		t.Logf("torn cut (seed %d) of %s: %+v unsynced", seed+uint64(i), c.nodes[i].name, m.Dropped())
	}
	ack.mu.Lock()
	acked := len(ack.tickets)
	ack.mu.Unlock()
	if acked == 0 {
		t.Fatalf("no call was acknowledged before the power cut\n%s", c.nodes[0].proc.Logs)
	}
	t.Logf("%d calls acknowledged, then the power of all three was cut", acked)

	mountAll()
	for _, n := range c.nodes {
		n.start(t)
	}
	c.waitLeader(30 * time.Second)
	c.waitCaughtUp(30 * time.Second)
	c.presentEverywhere(ack)
	if t.Failed() {
		t.FailNow()
	}
	var rr atomic.Int64
	p := c.pbx(t, &rr)
	load.sent.Range(func(k, v any) bool {
		ch := k.(string)
		ack.mu.Lock()
		_, ok := ack.tickets[ch]
		ack.mu.Unlock()
		if !ok {
			a := p.must("POST", "/api/mind/telephony/callReceived", v.(string))
			ack.add(t, ch, kindProbe, num(a.Body["ticketId"]))
		}
		return true
	})
	settle(t, c, p)
	c.waitCaughtUp(30 * time.Second)
	c.verifyTickets(ack)
	c.verifyCentral(ack, p)
	c.checkFiles()
	c.verifyExports(ack)
}
