package cluster

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// link is a TCP proxy on one direction of a peer link: node i dials its
// address for node j. Cut, it drops every byte both ways (the peers see
// silence, not a reset, as behind a dead switch port) and accepts new
// connections only to drop theirs too; healed, it closes the connections
// that lost bytes (their streams are broken; the peers' timeouts would end
// them too) and forwards again.
type link struct {
	name   string
	addr   string
	target string
	ln     net.Listener

	mu    sync.Mutex
	cut   bool
	pipes map[*pipe]struct{}
	wg    sync.WaitGroup
}

// pipe is one proxied connection.
type pipe struct {
	client, server net.Conn
	lost           bool // bytes were dropped: the streams are broken
}

func newLink(t *testing.T, name, target string) *link {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &link{name: name, addr: ln.Addr().String(), target: target, ln: ln, pipes: map[*pipe]struct{}{}}
	l.wg.Go(l.accept)
	t.Cleanup(l.close)
	return l
}

func (l *link) accept() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		p := &pipe{client: c}
		l.mu.Lock()
		cut := l.cut
		p.lost = cut
		l.pipes[p] = struct{}{}
		l.mu.Unlock()
		if cut {
			// Behind a partition nothing reaches the target: hold the
			// connection and drop what arrives.
			l.wg.Go(func() { l.copy(p, io.Discard, c) })
			continue
		}
		s, err := net.Dial("tcp", l.target)
		if err != nil {
			l.drop(p)
			continue
		}
		p.server = s
		l.wg.Go(func() { l.copy(p, s, c) })
		l.wg.Go(func() { l.copy(p, c, s) })
	}
}

// copy forwards src to dst until either side fails, dropping what it
// reads while the link is cut.
func (l *link) copy(p *pipe, dst io.Writer, src net.Conn) {
	defer l.drop(p)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			l.mu.Lock()
			cut := l.cut
			if cut {
				p.lost = true
			}
			l.mu.Unlock()
			if !cut {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// drop closes both ends of p.
func (l *link) drop(p *pipe) {
	l.mu.Lock()
	delete(l.pipes, p)
	l.mu.Unlock()
	_ = p.client.Close()
	if p.server != nil {
		_ = p.server.Close()
	}
}

// setCut cuts or heals the link.
func (l *link) setCut(cut bool) {
	l.mu.Lock()
	l.cut = cut
	var broken []*pipe
	if !cut {
		for p := range l.pipes {
			if p.lost {
				broken = append(broken, p)
			}
		}
	}
	l.mu.Unlock()
	for _, p := range broken {
		l.drop(p)
	}
}

func (l *link) close() {
	_ = l.ln.Close()
	l.mu.Lock()
	var all []*pipe
	for p := range l.pipes {
		all = append(all, p)
	}
	l.mu.Unlock()
	for _, p := range all {
		l.drop(p)
	}
	l.wg.Wait()
}

// isolate cuts (or heals) every link to and from node i.
func (c *cluster) isolate(i int, cut bool) {
	c.t.Helper()
	if len(c.links) == 0 {
		c.t.Fatal("isolate needs a cluster started with proxied links")
	}
	for k, l := range c.links {
		if k[0] == i || k[1] == i {
			l.setCut(cut)
		}
	}
}

// TestLinkCutsAndHeals: the partition test is only as good as its proxy.
// Through a link an echo server answers; cut, nothing comes back on an
// open connection or a new one, and nothing reaches the server; healed,
// the broken connections are closed and a new one is answered again.
func TestLinkCutsAndHeals(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	var received atomic.Int64
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 1024)
				for {
					n, err := c.Read(buf)
					if err != nil {
						c.Close()
						return
					}
					received.Add(int64(n))
					_, _ = c.Write(buf[:n])
				}
			}()
		}
	}()
	l := newLink(t, "test", echo.Addr().String())
	roundTrip := func(c net.Conn, msg string) (string, error) {
		if _, err := c.Write([]byte(msg)); err != nil {
			return "", err
		}
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, len(msg))
		_, err := io.ReadFull(c, buf)
		return string(buf), err
	}
	old, err := net.Dial("tcp", l.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if got, err := roundTrip(old, "hello"); err != nil || got != "hello" {
		t.Fatalf("through the link: %q %v", got, err)
	}
	l.setCut(true)
	before := received.Load()
	if got, err := roundTrip(old, "lost"); err == nil {
		t.Fatalf("cut link answered %q on an open connection", got)
	}
	during, err := net.Dial("tcp", l.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer during.Close()
	if got, err := roundTrip(during, "lost too"); err == nil {
		t.Fatalf("cut link answered %q on a new connection", got)
	}
	if n := received.Load(); n != before {
		t.Fatalf("%d bytes reached the server through a cut link", n-before)
	}
	l.setCut(false)
	_ = old.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := old.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection that lost bytes stays open after healing: %v", err)
	}
	healed, err := net.Dial("tcp", l.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer healed.Close()
	if got, err := roundTrip(healed, "again"); err != nil || got != "again" {
		t.Fatalf("healed link: %q %v", got, err)
	}
}
