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
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// One listener carries both kinds of peer traffic: raft's own RPCs
// (hashicorp/raft's NetworkTransport) and this package's forwarding RPCs
// (a write or a read index asked of the leader). Every connection starts
// with a handshake that proves, both ways, knowledge of the shared secret,
// names its kind, and compares the members' Settings digests; optional
// mutual TLS wraps it all.
//
//	client → server: magic "EEC2", kind, 32-byte client nonce
//	server → client: 32-byte server nonce, HMAC(secret, "server", kind, nonces, sd, name),
//	                 sd, its name (1-byte length, then the bytes)
//	client → server: HMAC(secret, "client", kind, nonces, sd, name), sd, its name
//
// where sd = HMAC(secret, "settings", Settings.Digest): keyed, so that
// someone without the secret learns nothing of the settings (a digest of
// a site ID and a few timers is easily guessed). Each side first checks
// the proof, so a wrong secret is told apart from other settings, then
// compares sd. The client sends its proof
// even when the server's digest differs, so that both sides can name the
// mismatch in their logs. "EEC1" was the handshake without digests; a
// member that speaks it is refused (errOldHandshake).
const (
	kindRaft    byte = 'R'
	kindForward byte = 'F'

	nonceLen         = 32
	digestLen        = sha256.Size
	maxNameLen       = 255
	handshakeTimeout = 5 * time.Second
)

var (
	magic    = [4]byte{'E', 'E', 'C', '2'}
	oldMagic = [4]byte{'E', 'E', 'C', '1'}
)

// errHandshake is a peer that does not know the secret (or speaks
// something else).
var errHandshake = errors.New("cluster handshake failed: the peer does not know cluster.secret")

// errOldHandshake is a peer of an earlier release, whose handshake carries
// no settings digest.
var errOldHandshake = errors.New("cluster handshake failed: the peer runs an older enneo-edge " +
	"(handshake EEC1, without the site.id and routing check); run the same release on every member")

// Settings identify what applying a command depends on besides the
// command and the state it runs on (db.Store.ApplySettings: site.id and
// the routing settings). Members whose digests differ would apply the
// same log to different states, so the handshake refuses them.
type Settings struct {
	Digest [digestLen]byte
	// Summary is the settings in words, for the refusal's message.
	Summary string
}

// SettingsMismatchError is a peer that proved the secret but whose
// Settings digest differs from this member's.
type SettingsMismatchError struct {
	Peer, Addr string // its cluster.node name and the address it was seen at
	Summary    string // this member's settings
}

func (e *SettingsMismatchError) Error() string {
	return fmt.Sprintf("cluster.peer %s (%s) has a different site.id or routing config: refused (this member: %s). "+
		"These settings decide what every replicated command does, so they must be the same on every member: "+
		"stop all members, make them the same in every member's config, then start them all again "+
		"(a member restarted with changed settings while the others run stays refused)",
		e.Peer, e.Addr, e.Summary)
}

// handshake is what one side brings to a handshake.
type handshake struct {
	secret   []byte
	name     string // this member's cluster.node
	settings Settings
}

func (h handshake) mac(role string, kind byte, cn, sn, sd []byte, name string) []byte {
	m := hmac.New(sha256.New, h.secret)
	m.Write([]byte(role))
	m.Write([]byte{kind})
	m.Write(cn)
	m.Write(sn)
	m.Write(sd)
	m.Write([]byte{byte(len(name))})
	m.Write([]byte(name))
	return m.Sum(nil)
}

// keyed is this side's sd (see the handshake above).
func (h handshake) keyed() []byte {
	m := hmac.New(sha256.New, h.secret)
	m.Write([]byte("settings"))
	m.Write(h.settings.Digest[:])
	return m.Sum(nil)
}

// identity is this side's sd and name as sent.
func (h handshake) identity() []byte {
	return append(append(h.keyed(), byte(len(h.name))), h.name...)
}

// readIdentity reads the peer's sd and name.
func readIdentity(c net.Conn) (sd []byte, name string, err error) {
	b := make([]byte, digestLen+1)
	if _, err := io.ReadFull(c, b); err != nil {
		return nil, "", err
	}
	nb := make([]byte, b[digestLen])
	if _, err := io.ReadFull(c, nb); err != nil {
		return nil, "", err
	}
	return b[:digestLen], string(nb), nil
}

// compare returns a SettingsMismatchError when the peer's sd differs.
func (h handshake) compare(sd []byte, name, addr string) error {
	if hmac.Equal(sd, h.keyed()) {
		return nil
	}
	return &SettingsMismatchError{Peer: name, Addr: addr, Summary: h.settings.Summary}
}

// clientHandshake proves the secret on an outgoing connection.
func clientHandshake(c net.Conn, h handshake, kind byte) error {
	return clientHandshakeBy(c, h, kind, time.Now().Add(handshakeTimeout))
}

// clientHandshakeBy is clientHandshake finished by deadline.
func clientHandshakeBy(c net.Conn, h handshake, kind byte, deadline time.Time) error {
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
	sd, name, err := readIdentity(c)
	if err != nil {
		return fmt.Errorf("cluster handshake: %w", err)
	}
	sn := resp[:nonceLen]
	if !hmac.Equal(resp[nonceLen:], h.mac("server", kind, cn, sn, sd, name)) {
		return errHandshake
	}
	// Proven even when the settings differ: the server then names this
	// member in its refusal.
	proof := append(h.mac("client", kind, cn, sn, h.keyed(), h.name), h.identity()...)
	if _, err := c.Write(proof); err != nil {
		return fmt.Errorf("cluster handshake: %w", err)
	}
	return h.compare(sd, name, c.RemoteAddr().String())
}

// serverHandshake checks an incoming connection and returns its kind.
func serverHandshake(c net.Conn, h handshake) (byte, error) {
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	hello := make([]byte, 5+nonceLen)
	if _, err := io.ReadFull(c, hello); err != nil {
		return 0, err
	}
	if [4]byte(hello[:4]) == oldMagic {
		return 0, errOldHandshake
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
	resp := append(sn, h.mac("server", kind, cn, sn, h.keyed(), h.name)...)
	if _, err := c.Write(append(resp, h.identity()...)); err != nil {
		return 0, err
	}
	proof := make([]byte, sha256.Size)
	if _, err := io.ReadFull(c, proof); err != nil {
		return 0, err
	}
	sd, name, err := readIdentity(c)
	if err != nil {
		return 0, err
	}
	if !hmac.Equal(proof, h.mac("client", kind, cn, sn, sd, name)) {
		return 0, errHandshake
	}
	if err := h.compare(sd, name, c.RemoteAddr().String()); err != nil {
		return 0, err
	}
	return kind, nil
}

// mux accepts peer connections, checks them and hands each to its user:
// raft connections to Accept (mux is raft's StreamLayer), forwarding
// connections to serveForward.
type mux struct {
	ln           net.Listener
	hs           handshake
	serverTLS    *tls.Config // nil: plain TCP
	clientTLS    *tls.Config
	serveForward func(net.Conn)
	log          *slog.Logger

	raftConns chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	// logged throttles the log lines of settings mismatches: raft
	// redials a refused peer many times a second.
	loggedMu sync.Mutex
	logged   map[string]time.Time
	// refused is the latest settings mismatch, for Status.
	refused atomic.Pointer[refusal]
}

// refusal is a settings mismatch and when it was seen.
type refusal struct {
	at  time.Time
	err string
}

// recentRefusal is the latest settings mismatch seen within d, or "".
func (m *mux) recentRefusal(d time.Duration) string {
	if r := m.refused.Load(); r != nil && time.Since(r.at) <= d {
		return r.err
	}
	return ""
}

var _ raft.StreamLayer = (*mux)(nil)

func newMux(ln net.Listener, hs handshake, serverTLS, clientTLS *tls.Config, log *slog.Logger) *mux {
	return &mux{
		ln: ln, hs: hs, serverTLS: serverTLS, clientTLS: clientTLS, log: log,
		raftConns: make(chan net.Conn), done: make(chan struct{}), logged: map[string]time.Time{},
	}
}

// mismatchLogEvery is how often a settings mismatch with one peer is
// logged, on each side.
const mismatchLogEvery = 30 * time.Second

// logMismatch logs err when it is a settings mismatch not logged for
// that peer and side lately, and reports whether err is one.
func (m *mux) logMismatch(side string, err error) bool {
	var sm *SettingsMismatchError
	if !errors.As(err, &sm) {
		return false
	}
	key, now := side+" "+sm.Peer, time.Now()
	m.refused.Store(&refusal{at: now, err: err.Error()})
	m.loggedMu.Lock()
	quiet := now.Sub(m.logged[key]) < mismatchLogEvery
	if !quiet {
		m.logged[key] = now
	}
	m.loggedMu.Unlock()
	if !quiet {
		m.log.Error("cluster: refused a peer with other settings", "side", side, "peer", sm.Peer, "addr", sm.Addr, "err", err)
	}
	return true
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
	kind, err := serverHandshake(c, m.hs)
	if err != nil {
		_ = c.Close()
		if m.logMismatch("incoming", err) {
			return
		}
		m.log.Warn("cluster: refused a peer connection", "remote", c.RemoteAddr().String(), "err", err)
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
	if err := clientHandshakeBy(c, m.hs, kind, deadline); err != nil {
		_ = c.Close()
		m.logMismatch("outgoing", err)
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
