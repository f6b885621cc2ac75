// Package cluster runs a member of a cluster of appliances on one
// replicated log (hashicorp/raft): the store's write methods become
// commands on the log (db.Replicator), every member applies them to its
// own file (fsm.go), a follower forwards writes to the leader and waits
// for its read index before a linearizable read (forward.go), and the
// peers authenticate each other on one listener (transport.go).
package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/enneo-edge/enneo-edge/clock"
	"github.com/enneo-edge/enneo-edge/db"
)

// Errors of a member.
var (
	// ErrNoQuorum: no leader is reachable from here (db.ErrNoQuorum).
	ErrNoQuorum = db.ErrNoQuorum
	// ErrUnknownOutcome: the command may have been appended but its
	// answer was lost (db.ErrCommitTimeout: retry with the same channelId).
	ErrUnknownOutcome = db.ErrCommitTimeout
	// errNotAppended: this member is not the leader and appended nothing.
	errNotAppended = errors.New("not the leader")
)

// Peer is one member: its name (raft server ID) and the address this
// member dials to reach it.
type Peer struct {
	ID   string
	Addr string
}

// Options configure a member.
type Options struct {
	// Node is this member's name; it must be one of Peers.
	Node string
	// Listen is the peer listener's address.
	Listen string
	// Listener, when set, is used instead of binding Listen (tests bind
	// port 0 first, to know every member's address).
	Listener net.Listener
	// Peers are all members, this one included, with the addresses this
	// member dials (a proxy may stand between).
	Peers []Peer
	// Secret is the cluster's shared secret every peer must prove.
	Secret string
	// Settings are what applying a command depends on besides the log
	// (db.Store.ApplySettings); a peer whose Settings differ is refused at
	// the handshake, both ways (transport.go). Required.
	Settings Settings
	// ServerTLS and ClientTLS, both set, wrap peer connections in TLS.
	ServerTLS, ClientTLS *tls.Config
	// Dir holds raft's log, stable store and snapshots.
	Dir string
	// Store is the state machine (*db.Store).
	Store Store
	Log   *slog.Logger
	// OnFail is told when this member must stop (its store failed to
	// apply committed entries).
	OnFail func(error)
	// Clock stamps the commands this member appends as leader; nil is
	// the wall clock.
	Clock clock.Clock
	// Timing: zero takes the defaults below (tests shrink them).
	HeartbeatTimeout, LeaderLeaseTimeout time.Duration
	SnapshotThreshold                    uint64
}

// Default timing: a LAN. The leader steps down after LeaderLeaseTimeout
// without hearing a quorum, before a follower's HeartbeatTimeout lets it
// start an election, so two leaders never both believe they lead.
const (
	defaultHeartbeat   = time.Second
	defaultLeaderLease = 500 * time.Millisecond
	// forwardWait bounds how long a write looks for a leader before it
	// answers ErrNoQuorum; barrierTimeout bounds a read's catching up.
	forwardWait    = 3 * time.Second
	barrierTimeout = 5 * time.Second
	// applyTimeout bounds a write's commit when its context has no deadline.
	applyTimeout = 10 * time.Second
	// commitTimeout: see the raft configuration in New.
	commitTimeout = 5 * time.Millisecond
	// contactMax is how old a follower's last contact with its leader may
	// be before it no longer counts as reaching a quorum.
	contactMax = 3 * time.Second
	// defaultSnapshotThreshold: a snapshot after this many entries (about
	// a minute at 1,000 calls/s); as many stay in the log after it.
	defaultSnapshotThreshold = 65536
)

// Node is one running member.
type Node struct {
	o           Options
	log         *slog.Logger
	r           *raft.Raft
	fsm         *fsm
	mux         *mux
	fwd         *forwardServer
	peers       *peers
	addrs       map[string]string // node name → address dialled
	closeStores func()
	logs        logStore

	// started is set once raft runs (n.r is set): peers may call before.
	started atomic.Bool
	// hasState: this member holds raft state (had it, or bootstrapped).
	hasState  atomic.Bool
	lastStamp atomic.Int64
	stampTerm atomic.Uint64 // the term lastStamp was last lifted from the log in
	// stampMu makes the first stamp of a term lift the floor and measure
	// the clock once; ahead is how far this member's clock ran ahead of
	// the others' at the last measure (ns, skew.go), taken at aheadAt
	// (unix ns); measuring is set while a background measure runs.
	stampMu   sync.Mutex
	ahead     atomic.Int64
	aheadAt   atomic.Int64
	measuring atomic.Bool
	// reached is when a call to the leader last succeeded (unix ns);
	// probeMu, probeAt, probeErr rate-limit readiness probes (reachLeader).
	reached       atomic.Int64
	probeMu       sync.Mutex
	probeAt       time.Time
	probeErr      error
	clock         clock.Clock
	leaderChanges atomic.Int64
	lastChange    atomic.Pointer[time.Time]
	obsCh         chan raft.Observation
	obs           *raft.Observer
	wg            sync.WaitGroup
	closeOnce     sync.Once
	done          chan struct{}
}

// New opens raft's files, binds the peer listener and starts the member.
// A member with no raft state and a peers list bootstraps the cluster with
// that list: every member started with the same list bootstraps the same
// configuration, which hashicorp/raft accepts.
func New(o Options) (*Node, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.HeartbeatTimeout == 0 {
		o.HeartbeatTimeout = defaultHeartbeat
	}
	if o.LeaderLeaseTimeout == 0 {
		o.LeaderLeaseTimeout = defaultLeaderLease
	}
	n := &Node{o: o, log: o.Log, clock: clock.Or(o.Clock), addrs: map[string]string{}, done: make(chan struct{})}
	for _, p := range o.Peers {
		n.addrs[p.ID] = p.Addr
	}
	if _, ok := n.addrs[o.Node]; !ok {
		return nil, fmt.Errorf("cluster.node %q is not in cluster.peers", o.Node)
	}
	if len(o.Node) > maxNameLen {
		return nil, fmt.Errorf("cluster.node %q is longer than %d bytes", o.Node, maxNameLen)
	}
	if o.Settings.Digest == ([digestLen]byte{}) {
		// Without it every member would match every other: the check
		// the handshake makes would be silently off.
		return nil, errors.New("cluster: no settings digest (Options.Settings, from db.Store.ApplySettings)")
	}
	var err error
	if n.fsm, err = newFSM(o.Store, o.Log, o.OnFail); err != nil {
		return nil, err
	}
	n.fsm.stamps = &n.lastStamp
	n.fsm.stop = n.done
	n.fsm.onStall = n.handOver
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: raft directory: %w", err)
	}
	hl := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: slogWriter{o.Log}})
	logs, err := openLogStore(o.Dir, hl)
	if err != nil {
		return nil, err
	}
	n.logs = logs
	// Entries this member applied before a restart do not all pass
	// through the state machine again: the newest command in its log is
	// the floor of its stamps from the start.
	n.lastStamp.Store(newestStamp(logs))
	snaps, err := raft.NewFileSnapshotStoreWithLogger(o.Dir, 2, hl)
	if err != nil {
		_ = logs.Close()
		return nil, fmt.Errorf("cluster: snapshots %s: %w", o.Dir, err)
	}
	ln := o.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", o.Listen); err != nil {
			_ = logs.Close()
			return nil, fmt.Errorf("cluster.listen %s: %w", o.Listen, err)
		}
	}
	n.mux = newMux(ln, handshake{secret: []byte(o.Secret), name: o.Node, settings: o.Settings}, o.ServerTLS, o.ClientTLS, o.Log)
	if n.fwd, err = newForwardServer(n); err != nil {
		_ = ln.Close()
		_ = logs.Close()
		return nil, err
	}
	n.mux.serveForward = n.fwd.serve
	n.peers = newPeers(n.mux)
	go n.mux.run()
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		ServerAddressProvider: addrProvider(n.addrs),
		Logger:                hl,
		Stream:                n.mux,
		MaxPool:               3,
		Timeout:               5 * time.Second,
	})
	cfg := raft.DefaultConfig()
	cfg.LocalID = raft.ServerID(o.Node)
	cfg.Logger = hl
	cfg.HeartbeatTimeout, cfg.ElectionTimeout = o.HeartbeatTimeout, o.HeartbeatTimeout
	cfg.LeaderLeaseTimeout = o.LeaderLeaseTimeout
	// A follower learns that entries are committed only from the leader's
	// next append, or after CommitTimeout (up to twice it) when there is
	// none: a linearizable read on a follower right after a write waits
	// for that before its file has the write. raft's default, 50 ms, made
	// that read take 77 ms (p50); 5 ms makes it 9 ms, for about 3 % of a
	// core per member while idle (BENCHMARKS.md, "Cluster: where the time
	// goes").
	cfg.CommitTimeout = min(commitTimeout, o.LeaderLeaseTimeout/2)
	// A snapshot is a copy of the whole database file (the FSM waits for
	// the copy), and the file itself is durable: snapshots only bound the
	// log and catch up a member that fell far behind, so they are rare.
	cfg.SnapshotThreshold, cfg.TrailingLogs = defaultSnapshotThreshold, defaultSnapshotThreshold
	if o.SnapshotThreshold > 0 {
		cfg.SnapshotThreshold = o.SnapshotThreshold
		cfg.TrailingLogs = o.SnapshotThreshold
	}
	cfg.BatchApplyCh = true
	// One append (one fsync) carries up to this many concurrent writes, as
	// the engine's group commit does (db/engine maxBatch).
	cfg.MaxAppendEntries = 512
	n.closeStores = func() { _ = trans.Close(); _ = logs.Close() }
	has, err := raft.HasExistingState(logs, logs, snaps)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("cluster: read raft state: %w", err)
	}
	if !has && n.fsm.appliedIndex() > 0 {
		// The file applied entries of a log that is gone: a new log's
		// indexes would start again at 1 and Apply would skip them all.
		n.closeStores()
		return nil, fmt.Errorf("cluster: the database has applied the replicated log up to index %d, but the raft state in %s is gone; "+
			"put its raft directory back, or run `enneo-edge cluster remove` for it on a running member, move the database away and `cluster add` it again", n.fsm.appliedIndex(), o.Dir)
	}
	if !has && n.peerHasState() {
		// A cluster runs already (this member is new, or lost its disk):
		// it joins through the leader instead of bootstrapping a log of
		// its own, whose first entry would differ from the cluster's.
		o.Log.Info("cluster: a peer already holds the cluster's state; waiting to be replicated to (cluster add, if this member is new)")
	} else if !has {
		var servers []raft.Server
		for _, p := range o.Peers {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)})
		}
		if err := raft.BootstrapCluster(cfg, logs, logs, snaps, trans, raft.Configuration{Servers: servers}); err != nil {
			n.closeStores()
			return nil, fmt.Errorf("cluster: bootstrap: %w", err)
		}
		o.Log.Info("cluster: bootstrapped", "members", len(servers))
		n.hasState.Store(true)
	}
	if has {
		n.hasState.Store(true)
	}
	if n.r, err = raft.NewRaft(cfg, n.fsm, logs, logs, snaps, trans); err != nil {
		n.closeStores()
		return nil, fmt.Errorf("cluster: start raft: %w", err)
	}
	n.started.Store(true)
	n.watchLeader()
	return n, nil
}

// peerHasState asks every other peer (in parallel, briefly) whether it
// holds raft state. A first start of the whole cluster finds none (or
// peers not up yet) and bootstraps; a member added to a running cluster,
// or one that lost its disk, finds one and waits for the leader.
func (n *Node) peerHasState() bool {
	var found atomic.Bool
	var wg sync.WaitGroup
	for id, addr := range n.addrs {
		if id == n.o.Node {
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			var has bool
			if _, err := n.peers.call(ctx, addr, "Cluster.HasState", 0, &has); err == nil && has {
				found.Store(true)
			}
		})
	}
	wg.Wait()
	return found.Load()
}

// addrProvider is the address each member dials, from cluster.peers, so
// that the list each member was given (maybe through a proxy) wins over
// the addresses stored in raft's configuration; members added later are
// found there.
type addrProvider map[string]string

func (a addrProvider) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	if addr, ok := a[string(id)]; ok {
		return raft.ServerAddress(addr), nil
	}
	return "", fmt.Errorf("member %s not in cluster.peers", id)
}

// addrOf is where to reach member id: cluster.peers, else raft's
// configuration address.
func (n *Node) addrOf(id raft.ServerID, fallback raft.ServerAddress) string {
	if a, ok := n.addrs[string(id)]; ok {
		return a
	}
	return string(fallback)
}

// watchLeader counts leader changes and remembers the last one.
func (n *Node) watchLeader() {
	now := time.Now()
	n.lastChange.Store(&now)
	n.obsCh = make(chan raft.Observation, 16)
	n.obs = raft.NewObserver(n.obsCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	n.r.RegisterObserver(n.obs)
	n.wg.Go(func() {
		for {
			select {
			case o := <-n.obsCh:
				lo := o.Data.(raft.LeaderObservation)
				t := time.Now()
				n.lastChange.Store(&t)
				if lo.LeaderID != "" {
					n.leaderChanges.Add(1)
				}
				n.log.Info("cluster: leader", "leader", string(lo.LeaderID), "self", n.o.Node)
			case <-n.done:
				return
			}
		}
	})
}

// IsLeader reports whether this member leads now.
func (n *Node) IsLeader() bool { return n.r.State() == raft.Leader }

// LeaderCh delivers true when this member becomes leader and false when
// it stops (raft.Raft.LeaderCh; only the latest change when they are quick).
func (n *Node) LeaderCh() <-chan bool { return n.r.LeaderCh() }

// WaitApplied returns once everything the leader committed before it
// became leader is applied here (raft.Raft.Barrier): leader-only loops
// start after it, on a file that holds every earlier write.
func (n *Node) WaitApplied(ctx context.Context) error {
	return wait(ctx, n.r.Barrier(applyTimeout))
}

// handOver makes a leader whose state machine waits for room in its
// database hand its role to another member: while it led, its own reads
// and the writes it appends would wait on it, and its leader-only work
// would stop, where a follower with room serves them all.
func (n *Node) handOver() {
	if !n.IsLeader() {
		return
	}
	n.log.Warn("cluster: this leader's database has no room for committed entries; handing leadership over")
	go func() {
		if err := n.r.LeadershipTransfer().Error(); err != nil {
			n.log.Warn("cluster: leadership hand-over failed", "err", err)
		}
	}()
}

// Failed is the error that stopped this member's state machine, or nil.
func (n *Node) Failed() error { return n.fsm.Failed() }

// Close leaves: raft stops, then the listener and raft's files close.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		close(n.done)
		err = n.r.Shutdown().Error()
		n.r.DeregisterObserver(n.obs)
		n.fwd.close()
		n.peers.close()
		_ = n.mux.Close()
		n.closeStores()
		n.wg.Wait()
	})
	return err
}

// wait waits for a raft future, at most until ctx ends.
func wait(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// slogWriter hands raft's log lines ("<time> [LEVEL] raft: message") to
// the appliance's logger at their level.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	if i := strings.Index(line, "["); i >= 0 {
		if j := strings.Index(line[i:], "]"); j > 0 {
			switch strings.TrimSpace(line[i+1 : i+j]) {
			case "ERROR":
				level = slog.LevelError
			case "WARN":
				level = slog.LevelWarn
			case "DEBUG", "TRACE":
				level = slog.LevelDebug
			}
			line = strings.TrimSpace(line[i+j+1:])
		}
	}
	w.log.Log(context.Background(), level, line)
	return len(p), nil
}

// newestStamp is the stamp of the newest command in the log (0: none). It
// looks back over raft's own entries (no-ops, configuration changes).
func newestStamp(logs raft.LogStore) int64 {
	last, err := logs.LastIndex()
	if err != nil {
		return 0
	}
	first, _ := logs.FirstIndex()
	for i := last; i > 0 && i >= first && last-i < 1024; i-- {
		var l raft.Log
		if logs.GetLog(i, &l) != nil {
			return 0
		}
		if l.Type == raft.LogCommand {
			return db.CommandTime(l.Data).UnixNano()
		}
	}
	return 0
}
