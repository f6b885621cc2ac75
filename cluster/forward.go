package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/rpc"
	"sync"
	"time"

	"github.com/enneo-edge/enneo-edge/db"
)

// The forwarding RPCs a member asks of the leader, with net/rpc (gob) on
// checked connections of the peer listener (transport.go): Apply appends
// a command for a follower and answers what the leader's store answered;
// ReadIndex confirms leadership and names the index a linearizable read
// must wait for; Applied tells the leader how far a member is (its lag).

// ApplyArgs is a command a follower forwards.
type ApplyArgs struct {
	Cmd []byte
	// TimeoutNanos bounds the leader's wait for the commit.
	TimeoutNanos int64
}

// ApplyReply is what the leader answers: the store's result, or its error
// split by db.EncodeError, or NotLeader when it was not the leader and
// appended nothing (the follower may then try the new leader).
type ApplyReply struct {
	Result    []byte
	ErrCode   byte
	ErrMsg    string
	Failed    bool
	NotLeader bool
}

// Service is what a member answers on forwarding connections.
type Service struct{ n *Node }

// Apply appends a forwarded command.
func (s *Service) Apply(args ApplyArgs, reply *ApplyReply) error {
	if !s.n.started.Load() {
		reply.NotLeader = true
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(args.TimeoutNanos))
	defer cancel()
	res, err := s.n.applyLocal(ctx, args.Cmd)
	switch {
	case errors.Is(err, errNotAppended):
		reply.NotLeader = true
	case err != nil:
		reply.Failed = true
		reply.ErrCode, reply.ErrMsg = encodeErr(err)
	default:
		reply.Result = res
	}
	return nil
}

// ReadIndex answers the index a follower must have applied before it
// reads, after confirming this member still leads a quorum.
func (s *Service) ReadIndex(_ int, idx *uint64) error {
	if !s.n.started.Load() {
		return errNotAppended
	}
	ctx, cancel := context.WithTimeout(context.Background(), barrierTimeout)
	defer cancel()
	i, err := s.n.readIndex(ctx)
	*idx = i
	return err
}

// HasState tells whether this member holds raft state (see peerHasState).
func (s *Service) HasState(_ int, has *bool) error {
	*has = s.n.hasState.Load()
	return nil
}

// Applied is how far this member has applied the log.
func (s *Service) Applied(_ int, idx *uint64) error {
	*idx = s.n.fsm.appliedIndex()
	return nil
}

// encodeErr keeps the node's own errors recognisable across the trip.
func encodeErr(err error) (byte, string) {
	switch {
	case errors.Is(err, ErrNoQuorum):
		return errCodeNoQuorum, err.Error()
	case errors.Is(err, ErrUnknownOutcome):
		return errCodeUnknown, err.Error()
	}
	return db.EncodeError(err)
}

const (
	errCodeNoQuorum byte = 100 + iota
	errCodeUnknown
)

func decodeErr(code byte, msg string) error {
	switch code {
	case errCodeNoQuorum:
		return fmt.Errorf("%w (leader: %s)", ErrNoQuorum, msg)
	case errCodeUnknown:
		return fmt.Errorf("%w (leader: %s)", ErrUnknownOutcome, msg)
	}
	return db.DecodeError(code, msg)
}

// peers keeps one RPC client per peer address, redialled after a failure.
type peers struct {
	m  *mux
	mu sync.Mutex
	c  map[string]*rpc.Client
}

func newPeers(m *mux) *peers { return &peers{m: m, c: map[string]*rpc.Client{}} }

func (p *peers) client(ctx context.Context, addr string) (*rpc.Client, error) {
	p.mu.Lock()
	c := p.c[addr]
	p.mu.Unlock()
	if c != nil {
		return c, nil
	}
	// Dialled without the lock: a peer that does not answer must not hold
	// up calls to the others.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := p.m.dialCtx(ctx, addr, kindForward)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.c[addr]; old != nil {
		_ = conn.Close()
		return old, nil
	}
	c = rpc.NewClient(conn)
	p.c[addr] = c
	return c, nil
}

// drop forgets a client whose connection failed.
func (p *peers) drop(addr string, c *rpc.Client) {
	p.mu.Lock()
	if p.c[addr] == c {
		delete(p.c, addr)
	}
	p.mu.Unlock()
	_ = c.Close()
}

// call runs one RPC on addr, at most until ctx ends. sent tells whether
// the request may have reached the peer (then a failed call's outcome is
// unknown).
func (p *peers) call(ctx context.Context, addr, method string, args, reply any) (sent bool, err error) {
	c, err := p.client(ctx, addr)
	if err != nil {
		return false, err
	}
	call := c.Go(method, args, reply, make(chan *rpc.Call, 1))
	select {
	case <-call.Done:
		if call.Error != nil {
			var se rpc.ServerError
			if !errors.As(call.Error, &se) {
				p.drop(addr, c)
			}
		}
		return true, call.Error
	case <-ctx.Done():
		// A connection that swallows requests (a peer cut off without a
		// reset) would hold every later call too: dial afresh next time.
		p.drop(addr, c)
		return true, ctx.Err()
	}
}

func (p *peers) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, c := range p.c {
		_ = c.Close()
		delete(p.c, a)
	}
}

// forwardServer serves the forwarding RPCs and closes its connections at
// shutdown.
type forwardServer struct {
	rpc   *rpc.Server
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	shut  bool
}

func newForwardServer(n *Node) (*forwardServer, error) {
	s := rpc.NewServer()
	if err := s.RegisterName("Cluster", &Service{n: n}); err != nil {
		return nil, fmt.Errorf("register cluster rpc: %w", err)
	}
	return &forwardServer{rpc: s, conns: map[net.Conn]struct{}{}}, nil
}

func (f *forwardServer) serve(c net.Conn) {
	f.mu.Lock()
	if f.shut {
		f.mu.Unlock()
		_ = c.Close()
		return
	}
	f.conns[c] = struct{}{}
	f.mu.Unlock()
	f.rpc.ServeConn(c)
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

func (f *forwardServer) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shut = true
	for c := range f.conns {
		_ = c.Close()
	}
}
