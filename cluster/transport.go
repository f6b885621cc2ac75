package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// One listener carries both kinds of peer traffic: raft's own RPCs
// (hashicorp/raft's NetworkTransport) and this package's forwarding RPCs
// (a write or a read index asked of the leader). Every connection starts
// with a handshake that proves, both ways, knowledge of the shared secret,
// and names its kind; optional mutual TLS wraps it all.
//
//	client → server: magic "EEC1", kind, 32-byte client nonce
//	server → client: 32-byte server nonce, HMAC(secret, "server", kind, nonces)
//	client → server: HMAC(secret, "client", kind, nonces)
const (
	kindRaft    byte = 'R'
	kindForward byte = 'F'

	nonceLen         = 32
	handshakeTimeout = 5 * time.Second
)

var magic = [4]byte{'E', 'E', 'C', '1'}

// errHandshake is a peer that does not know the secret (or speaks
// something else).
var errHandshake = errors.New("cluster handshake failed: the peer does not know cluster.secret")

func mac(secret []byte, role string, kind byte, cn, sn []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(role))
	m.Write([]byte{kind})
	m.Write(cn)
	m.Write(sn)
	return m.Sum(nil)
}

// clientHandshake proves the secret on an outgoing connection.
func clientHandshake(c net.Conn, secret []byte, kind byte) error {
	return clientHandshakeBy(c, secret, kind, time.Now().Add(handshakeTimeout))
}

// clientHandshakeBy is clientHandshake finished by deadline.
func clientHandshakeBy(c net.Conn, secret []byte, kind byte, deadline time.Time) error {
	_ = c.SetDeadline(deadline)
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	hello := make([]byte, 5+nonceLen)
	copy(hello, magic[:])
	hello[4] = kind
	cn := hello[5:]
	if _, err := rand.Read(cn); err != nil {
		return err
	}
	if _, err := c.Write(hello); err != nil {
		return fmt.Errorf("cluster handshake: %w", err)
	}
	resp := make([]byte, nonceLen+sha256.Size)
	if _, err := io.ReadFull(c, resp); err != nil {
		return fmt.Errorf("cluster handshake: %w", err)
	}
	sn := resp[:nonceLen]
	if !hmac.Equal(resp[nonceLen:], mac(secret, "server", kind, cn, sn)) {
		return errHandshake
	}
	_, err := c.Write(mac(secret, "client", kind, cn, sn))
	return err
}

// serverHandshake checks an incoming connection and returns its kind.
func serverHandshake(c net.Conn, secret []byte) (byte, error) {
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	hello := make([]byte, 5+nonceLen)
	if _, err := io.ReadFull(c, hello); err != nil {
		return 0, err
	}
	if [4]byte(hello[:4]) != magic {
		return 0, errHandshake
	}
	kind, cn := hello[4], hello[5:]
	if kind != kindRaft && kind != kindForward {
		return 0, errHandshake
	}
	sn := make([]byte, nonceLen)
	if _, err := rand.Read(sn); err != nil {
		return 0, err
	}
	if _, err := c.Write(append(sn, mac(secret, "server", kind, cn, sn)...)); err != nil {
		return 0, err
	}
	proof := make([]byte, sha256.Size)
	if _, err := io.ReadFull(c, proof); err != nil {
		return 0, err
	}
	if !hmac.Equal(proof, mac(secret, "client", kind, cn, sn)) {
		return 0, errHandshake
	}
	return kind, nil
}

// mux accepts peer connections, checks them and hands each to its user:
// raft connections to Accept (mux is raft's StreamLayer), forwarding
// connections to serveForward.
type mux struct {
	ln           net.Listener
	secret       []byte
	serverTLS    *tls.Config // nil: plain TCP
	clientTLS    *tls.Config
	serveForward func(net.Conn)
	log          *slog.Logger

	raftConns chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

var _ raft.StreamLayer = (*mux)(nil)

func newMux(ln net.Listener, secret []byte, serverTLS, clientTLS *tls.Config, log *slog.Logger) *mux {
	return &mux{
		ln: ln, secret: secret, serverTLS: serverTLS, clientTLS: clientTLS, log: log,
		raftConns: make(chan net.Conn), done: make(chan struct{}),
	}
}

// run accepts connections until the listener closes.
func (m *mux) run() {
	m.wg.Add(1)
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			m.log.Error("cluster: accept", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.handle(c)
		}()
	}
}

func (m *mux) handle(c net.Conn) {
	if m.serverTLS != nil {
		c = tls.Server(c, m.serverTLS)
	}
	kind, err := serverHandshake(c, m.secret)
	if err != nil {
		m.log.Warn("cluster: refused a peer connection", "remote", c.RemoteAddr().String(), "err", err)
		_ = c.Close()
		return
	}
	switch kind {
	case kindRaft:
		select {
		case m.raftConns <- c:
		case <-m.done:
			_ = c.Close()
		}
	case kindForward:
		if m.serveForward == nil {
			_ = c.Close()
			return
		}
		m.serveForward(c)
	}
}

// dial opens a checked connection of kind to addr.
func (m *mux) dial(addr string, kind byte, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+handshakeTimeout)
	defer cancel()
	return m.dialCtx(ctx, addr, kind)
}

// dialCtx is dial bounded by ctx, the handshake included.
func (m *mux) dialCtx(ctx context.Context, addr string, kind byte) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if m.clientTLS != nil {
		c = tls.Client(c, m.clientTLS)
	}
	deadline := time.Now().Add(handshakeTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if err := clientHandshakeBy(c, m.secret, kind, deadline); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("peer %s: %w", addr, err)
	}
	return c, nil
}

// Accept returns the next raft connection (raft.StreamLayer).
func (m *mux) Accept() (net.Conn, error) {
	select {
	case c := <-m.raftConns:
		return c, nil
	case <-m.done:
		return nil, net.ErrClosed
	}
}

// Dial opens a raft connection (raft.StreamLayer).
func (m *mux) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return m.dial(string(addr), kindRaft, timeout)
}

// Close stops accepting; connections in use are their users' to close.
func (m *mux) Close() error {
	m.closeOnce.Do(func() {
		close(m.done)
		_ = m.ln.Close()
	})
	return nil
}

// Addr is the listener's address (raft.StreamLayer).
func (m *mux) Addr() net.Addr { return m.ln.Addr() }
