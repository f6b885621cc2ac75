package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/internal/edgetest"
)

// proxy forwards one member's connections to another; cut drops every
// connection and refuses new ones, as a partition does.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]struct{}
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { _ = ln.Close(); p.setCut(true) })
	go p.run()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) run() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go pipe(c, up)
		go pipe(up, c)
	}
}

func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
}

func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			_ = c.Close()
		}
		p.conns = map[net.Conn]struct{}{}
	}
}

// The leader is cut off from the other two: it answers writes and
// linearizable reads with ErrNoQuorum or an unknown outcome (503 both),
// never success, and reports itself unhealthy; the majority elects a new
// leader and goes on; after healing no member diverges.
func TestPartitionedMemberNeverAcknowledges(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	px := map[[2]int]*proxy{}
	for i := range 3 {
		for j := range 3 {
			if i != j {
				px[[2]int{i, j}] = newProxy(t, c.members[j].addr)
			}
		}
	}
	c.route = func(i, j int) string { return px[[2]int{i, j}].addr() }
	c.startAll()
	old := c.leader()
	if _, err := c.members[old].store.CreateCall(ctxT(t), testCall("before")); err != nil {
		t.Fatal(err)
	}
	cut := func(x int, on bool) {
		for k, p := range px {
			if k[0] == x || k[1] == x {
				p.setCut(on)
			}
		}
	}
	cut(old, true)

	// Writes on the cut-off member fail, whichever way.
	for i := range 3 {
		_, err := c.members[old].store.CreateCall(ctxT(t), testCall(fmt.Sprintf("cut-%d", i)))
		if err == nil {
			t.Fatalf("write %d on the cut-off member was acknowledged", i)
		}
		if !errors.Is(err, db.ErrNoQuorum) && !errors.Is(err, db.ErrCommitTimeout) {
			t.Fatalf("write on the cut-off member: %v, want ErrNoQuorum or ErrCommitTimeout (503)", err)
		}
	}
	if _, _, err := c.members[old].store.Ticket(1); !errors.Is(err, db.ErrNoQuorum) {
		t.Fatalf("linearizable read on the cut-off member: %v, want ErrNoQuorum", err)
	}
	edgetest.WaitFor(t, "the cut-off member to report no quorum", 5*time.Second, func() bool {
		return c.members[old].node.Healthy() != nil
	})

	// The majority goes on.
	var nl int
	edgetest.WaitFor(t, "a new leader among the majority", 10*time.Second, func() bool {
		for i, m := range c.members {
			if i != old && m.node.IsLeader() {
				nl = i
				return true
			}
		}
		return false
	})
	f := c.follower(nl, old)
	var ids []int64
	for i := range 3 {
		res, err := c.members[f].store.CreateCall(ctxT(t), testCall(fmt.Sprintf("major-%d", i)))
		if err != nil {
			t.Fatalf("write on the majority: %v", err)
		}
		ids = append(ids, res.Answer.TicketID)
	}

	cut(old, false)
	waitSame(t, c)
	for _, id := range ids {
		if _, _, err := c.members[old].store.Ticket(id); err != nil {
			t.Fatalf("healed member lacks ticket %d: %v", id, err)
		}
	}
	for i := range 3 {
		if _, err := c.members[old].store.TicketByChannel(fmt.Sprintf("cut-%d", i)); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("a write refused during the partition exists after healing: %v", err)
		}
	}
}

// A process that does not know cluster.secret cannot take part: its
// connections are refused, so it neither disturbs the members' term nor
// appears in their configuration, and its own writes find no quorum.
func TestNonMemberWithoutSecretCannotJoin(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.startAll()
	l := c.leader()
	term := c.members[l].node.r.CurrentTerm()

	dir := t.TempDir()
	store, stop := edgetest.OpenStore(t, filepath.Join(dir, "edge.db"))
	defer stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	peers := []Peer{{ID: "intruder", Addr: ln.Addr().String()}}
	for _, m := range c.members {
		peers = append(peers, Peer{ID: m.name, Addr: m.addr})
	}
	in, err := New(Options{
		Node: "intruder", Listener: ln, Peers: peers, Secret: "not-the-secret-0123456789abcdef0123",
		Settings: settingsOf("intruder"),
		Dir:      filepath.Join(dir, "raft"), Store: store, Log: testLogger(t, "intruder"),
		HeartbeatTimeout: 300 * time.Millisecond, LeaderLeaseTimeout: 150 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	store.SetReplicator(in)
	time.Sleep(2 * time.Second) // several of the intruder's election timeouts

	if got := c.members[l].node.r.CurrentTerm(); got != term || !c.members[l].node.IsLeader() {
		t.Fatalf("the intruder disturbed the cluster: term %d → %d, leader still: %v", term, got, c.members[l].node.IsLeader())
	}
	st := c.members[l].node.Status(ctxT(t), false)
	if len(st.Members) != 3 {
		t.Fatalf("members: %+v", st.Members)
	}
	if _, err := store.CreateCall(ctxT(t), testCall("intruder")); !errors.Is(err, db.ErrNoQuorum) {
		t.Fatalf("intruder's write: %v, want ErrNoQuorum", err)
	}
	// Nor can it forward a command to the leader itself.
	body, _ := json.Marshal(testCall("forwarded-by-intruder"))
	cmd := append([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0}, body...) // opCreateCall
	var rep ApplyReply
	if _, err := in.peers.call(ctxT(t), c.members[l].addr, "Cluster.Apply", ApplyArgs{Cmd: cmd, TimeoutNanos: int64(time.Second)}, &rep); err == nil {
		t.Fatalf("the leader answered the intruder's forwarded command: %+v", rep)
	}
	if _, err := c.members[l].store.TicketByChannel("forwarded-by-intruder"); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("the intruder's forwarded call reached the cluster: %v", err)
	}
	if _, err := c.members[l].store.TicketByChannel("intruder"); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("the intruder's call reached the cluster: %v", err)
	}
}

// The handshake refuses a wrong secret on either side: a member never
// accepts a stranger, and never talks to a stranger posing as a member.
func TestHandshakeNeedsTheSecretBothWays(t *testing.T) {
	try := func(clientSecret, serverSecret string) (cerr, serr error) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		done := make(chan error, 1)
		go func() {
			_, err := serverHandshake(b, handshake{secret: []byte(serverSecret), name: "server"})
			if err != nil {
				b.Close()
			}
			done <- err
		}()
		cerr = clientHandshake(a, handshake{secret: []byte(clientSecret), name: "client"}, kindRaft)
		if cerr != nil {
			a.Close()
		}
		return cerr, <-done
	}
	if c, s := try(testSecret, testSecret); c != nil || s != nil {
		t.Fatalf("same secret: client %v, server %v", c, s)
	}
	if c, s := try("wrong-secret", testSecret); s == nil {
		t.Fatalf("server accepted a client with the wrong secret (client: %v)", c)
	}
	if c, _ := try(testSecret, "wrong-secret"); !errors.Is(c, errHandshake) {
		t.Fatalf("client trusted a server with the wrong secret: %v", c)
	}
}
