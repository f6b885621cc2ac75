package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/internal/edgetest"
	"github.com/enneo-edge/enneo-edge/model"
)

const testSecret = "test-secret-0123456789abcdef0123456789"

// member is one in-process member: a real bbolt file with its commit loop,
// a raft node on a real loopback listener.
type member struct {
	name  string
	dir   string
	addr  string // its own listener
	store *db.Store
	count *countingStore
	node  *Node
	stop  context.CancelFunc
	ln    net.Listener
}

// countingStore counts the commands Apply was handed (and those it did
// not skip), to prove a restart replays only what is missing.
type countingStore struct {
	*db.Store
	handed atomic.Int64
	fresh  atomic.Int64
}

func (c *countingStore) Apply(ctx context.Context, idx []uint64, cmds [][]byte) ([]db.Applied, error) {
	have, _ := c.AppliedIndex()
	c.handed.Add(int64(len(cmds)))
	for _, i := range idx {
		if i > have {
			c.fresh.Add(1)
		}
	}
	return c.Store.Apply(ctx, idx, cmds)
}

// testCluster is three members; route says which address member i dials
// for member j (a proxy in the partition test).
type testCluster struct {
	t       *testing.T
	members []*member
	route   func(i, j int) string
	opts    func(*Options)
	// storeOpts, when set, adjusts member i's database options (its
	// site.id and routing settings, which the handshake compares).
	storeOpts func(i int, o *db.Options)
	// initial members are the first initial ones (0: all); a later one
	// lists them and itself.
	initial int
}

func newTestCluster(t *testing.T, n int, opts func(*Options)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, opts: opts}
	root := t.TempDir()
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("edge-%c", 'a'+i)
		c.members = append(c.members, &member{name: name, dir: filepath.Join(root, name), addr: ln.Addr().String(), ln: ln})
	}
	c.route = func(_, j int) string { return c.members[j].addr }
	return c
}

func (c *testCluster) startAll() {
	n := len(c.members)
	if c.initial > 0 {
		n = c.initial
	}
	for i := range n {
		c.start(i)
	}
	t := c.t
	t.Cleanup(func() {
		for i := range c.members {
			c.stopMember(i)
		}
	})
}

// start opens member i's store and starts its node.
func (c *testCluster) start(i int) {
	t := c.t
	t.Helper()
	m := c.members[i]
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	so := db.Options{SiteID: 1}
	if c.storeOpts != nil {
		c.storeOpts(i, &so)
	}
	store, err := db.Open(filepath.Join(m.dir, "edge.db"), so)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go store.Run(ctx)
	m.store, m.stop = store, cancel
	m.count = &countingStore{Store: store}
	if m.ln == nil {
		if m.ln, err = net.Listen("tcp", m.addr); err != nil {
			t.Fatal(err)
		}
	}
	var peers []Peer
	for j, o := range c.members {
		if c.initial > 0 && j >= c.initial && j != i {
			continue
		}
		addr := o.addr
		if j != i {
			addr = c.route(i, j)
		}
		peers = append(peers, Peer{ID: o.name, Addr: addr})
	}
	o := Options{
		Node: m.name, Listener: m.ln, Peers: peers, Secret: testSecret,
		Dir: filepath.Join(m.dir, "raft"), Store: m.count, Log: testLogger(t, m.name),
		HeartbeatTimeout: 500 * time.Millisecond, LeaderLeaseTimeout: 250 * time.Millisecond,
	}
	o.Settings.Digest, o.Settings.Summary = store.ApplySettings()
	if c.opts != nil {
		c.opts(&o)
	}
	n, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	m.ln = nil
	m.node = n
	store.SetReplicator(n)
}

// stopMember shuts member i down cleanly (its raft state and file stay).
func (c *testCluster) stopMember(i int) {
	m := c.members[i]
	if m.node == nil {
		return
	}
	if err := m.node.Close(); err != nil {
		c.t.Logf("%s: close node: %v", m.name, err)
	}
	m.stop()
	if err := m.store.Close(); err != nil {
		c.t.Errorf("%s: close store: %v", m.name, err)
	}
	m.node, m.store = nil, nil
}

// leader waits for a leader among the running members and returns it.
func (c *testCluster) leader() int {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for i, m := range c.members {
			if m.node != nil && m.node.IsLeader() {
				return i
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("no leader elected within 10s")
	return -1
}

// follower returns a running member other than the leader (and not skip).
func (c *testCluster) follower(leader int, skip ...int) int {
	for i, m := range c.members {
		if i != leader && m.node != nil && !contains(skip, i) {
			return i
		}
	}
	c.t.Fatal("no follower running")
	return -1
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func testCall(channel string) db.NewCall {
	return db.NewCall{Call: model.Call{Routing: model.RoutingNone, Direction: model.DirectionIn, Status: model.StatusOpen, ChannelID: channel, Phone: "+4930123456"}, CallerE164: "+4930123456"}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dump is every key of every bucket of a store but this member's own
// probe, as text: members that applied the same log dump the same.
func dump(t *testing.T, s *db.Store) string {
	t.Helper()
	b, err := s.BeginBackup()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	path := filepath.Join(t.TempDir(), "dump.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, b); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return edgetest.DumpFile(t, path)
}

// testLogger logs through t, so a failing test shows what raft said.
func testLogger(t *testing.T, name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(&tWriter{t: t, prefix: name}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
}

func (w *tWriter) Write(p []byte) (int, error) {
	if os.Getenv("CLUSTER_TEST_LOG") != "" {
		w.mu.Lock()
		fmt.Fprintf(os.Stderr, "%s: %s", w.prefix, p)
		w.mu.Unlock()
	}
	return len(p), nil
}

func completed(ticket int64) model.CallCompleted { return model.CallCompleted{TicketID: ticket} }

// wipe removes a member's database and raft state: a member whose disk
// was replaced.
func wipe(t *testing.T, dir string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
}

// call stores a call through s as a PBX would: a 503 (no quorum during an
// election, or an outcome lost with a leader) is retried with the same
// channelId, which is safe; anything else fails the test.
func call(t *testing.T, s *db.Store, channel string) db.CallResult {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := s.CreateCall(ctxT(t), testCall(channel))
		if err == nil {
			return res
		}
		if (!errors.Is(err, db.ErrNoQuorum) && !errors.Is(err, db.ErrCommitTimeout)) || time.Now().After(deadline) {
			t.Fatalf("call %s: %v", channel, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
