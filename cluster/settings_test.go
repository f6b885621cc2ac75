package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/db"
)

// tryHandshake runs one handshake between client and server over a pipe.
func tryHandshake(client, server handshake) (cerr, serr error) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	done := make(chan error, 1)
	go func() {
		_, err := serverHandshake(b, server)
		if err != nil {
			b.Close()
		}
		done <- err
	}()
	cerr = clientHandshake(a, client, kindForward)
	if cerr != nil {
		a.Close()
	}
	return cerr, <-done
}

func settingsOf(s string) Settings {
	return Settings{Digest: sha256.Sum256([]byte(s)), Summary: "summary of " + s}
}

// Two members that know the secret but apply commands with other settings
// refuse each other, both sides naming the other member and the cure;
// equal settings shake hands; a wrong secret stays a wrong secret.
func TestHandshakeRefusesOtherSettings(t *testing.T) {
	a := handshake{secret: []byte(testSecret), name: "edge-a", settings: settingsOf("ring 20s")}
	b := handshake{secret: []byte(testSecret), name: "edge-b", settings: settingsOf("ring 20s")}
	if c, s := tryHandshake(a, b); c != nil || s != nil {
		t.Fatalf("equal settings: client %v, server %v", c, s)
	}

	b.settings = settingsOf("ring 25s")
	c, s := tryHandshake(a, b)
	for side, tc := range map[string]struct {
		err         error
		peer, local string
	}{"client": {c, "edge-b", "ring 20s"}, "server": {s, "edge-a", "ring 25s"}} {
		var sm *SettingsMismatchError
		if !errors.As(tc.err, &sm) {
			t.Fatalf("%s: other settings: %v, want a SettingsMismatchError", side, tc.err)
		}
		msg := tc.err.Error()
		for _, want := range []string{"cluster.peer " + tc.peer + " (", "has a different site.id or routing config",
			"summary of " + tc.local, "stop all members"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: %q lacks %q", side, msg, want)
			}
		}
	}

	// The digest is not a secret's substitute: a wrong secret with the
	// same settings is still refused as a wrong secret.
	wrong := handshake{secret: []byte("wrong-secret-0123456789abcdef01234567"), name: "edge-x", settings: a.settings}
	if c, _ := tryHandshake(a, wrong); !errors.Is(c, errHandshake) {
		t.Fatalf("client trusted a server with the wrong secret: %v", c)
	}
	if _, s := tryHandshake(wrong, a); s == nil || errors.As(s, new(*SettingsMismatchError)) {
		t.Fatalf("server's answer to a client with the wrong secret: %v", s)
	}
}

// A member of the previous handshake (no settings digest) is told so.
func TestHandshakeRefusesTheOldHandshake(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { _, _ = a.Write(append(oldMagic[:], make([]byte, 1+nonceLen)...)) }()
	if _, err := serverHandshake(b, handshake{secret: []byte(testSecret), name: "edge-a"}); !errors.Is(err, errOldHandshake) {
		t.Fatalf("EEC1 hello: %v", err)
	}
}

// syncBuffer is a log both a member's goroutines and the test use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// A member whose ring timeout differs from the others' (it would apply
// the replicated ExpireDue differently) is refused by them and refuses
// them: the other two go on as the cluster, it takes no write and holds
// nothing of theirs, and each side's log names the other. Restarted with
// the others' settings, it joins and catches up.
func TestMemberWithOtherRoutingIsRefused(t *testing.T) {
	logs := map[string]*syncBuffer{"edge-a": {}, "edge-b": {}, "edge-c": {}}
	c := newTestCluster(t, 3, func(o *Options) {
		o.Log = slog.New(slog.NewTextHandler(logs[o.Node], &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	odd := true
	c.storeOpts = func(i int, o *db.Options) {
		if i == 2 && odd {
			o.Routing.RingTimeout = 25 * time.Second
		}
	}
	c.startAll()
	l := c.leader()
	if l == 2 {
		t.Fatal("the member with other settings became leader")
	}
	call(t, c.members[l].store, "agreed")

	// Both sides say why, naming the other member.
	deadline := time.Now().Add(10 * time.Second)
	for {
		odd, usual := logs["edge-c"].String(), logs[c.members[l].name].String()
		if strings.Contains(odd, "cluster.peer edge-") && strings.Contains(odd, "has a different site.id or routing config") &&
			strings.Contains(usual, "cluster.peer edge-c (") && strings.Contains(usual, "ring_timeout=20s") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the refusal is not logged on both sides:\nedge-c:\n%s\n%s:\n%s", odd, c.members[l].name, usual)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, i := range []int{2, l} {
		if st := c.members[i].node.Status(ctxT(t), false); !strings.Contains(st.Refused, "has a different site.id or routing config") {
			t.Errorf("%s's status does not show the refusal: %+v", c.members[i].name, st)
		}
	}
	if !strings.Contains(logs["edge-c"].String(), "ring_timeout=25s") {
		t.Errorf("edge-c's refusal does not show its own settings:\n%s", logs["edge-c"])
	}
	// A write there finds no leader (the short context spares the test
	// the few seconds it looks for one).
	ctx, cancel := context.WithTimeout(ctxT(t), 500*time.Millisecond)
	defer cancel()
	if _, err := c.members[2].store.CreateCall(ctx, testCall("from-the-odd-one")); !errors.Is(err, db.ErrNoQuorum) {
		t.Fatalf("write on the member with other settings: %v, want ErrNoQuorum", err)
	}
	if n, err := c.members[2].store.TicketCount(); err != nil || n != 0 {
		t.Fatalf("the refused member holds %d tickets (%v); the cluster's call must not reach it", n, err)
	}
	if n, err := c.members[l].store.TicketCount(); err != nil || n != 1 {
		t.Fatalf("the leader holds %d tickets (%v), want the one call", n, err)
	}

	// Its config made the same, it joins and catches up.
	c.stopMember(2)
	odd = false
	c.start(2)
	waitSame(t, c)
}

// A member without a settings digest is refused at construction: with
// zero digests everywhere the handshake's check would pass silently.
func TestNewNeedsTheSettingsDigest(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = New(Options{Node: "edge-a", Listener: ln, Peers: []Peer{{ID: "edge-a", Addr: ln.Addr().String()}},
		Secret: testSecret, Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "no settings digest") {
		t.Fatalf("New without Settings: %v", err)
	}
}
