package db

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/enneo-edge/enneo-edge/db/engine"
	"github.com/enneo-edge/enneo-edge/model"
)

func openTest(t *testing.T, path string, o Options, tune ...func(*engine.Options)) *Store {
	t.Helper()
	s, _ := startStore(t, path, o, tune...)
	return s
}

// startStore opens a store (tune adjusts the engine's options) and runs
// its commit loop. stop ends both and
// returns Close's error, for tests that reopen the file; it runs at the
// test's end otherwise.
func startStore(t *testing.T, path string, o Options, tune ...func(*engine.Options)) (s *Store, stop func() error) {
	t.Helper()
	if o.SiteID == 0 {
		o.SiteID = 5
	}
	s, err := open(path, o, func(eo *engine.Options) {
		for _, f := range tune {
			f(eo)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	var once sync.Once
	stop = func() error {
		once.Do(func() {
			cancel()
			err = s.Close()
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return s, stop
}

func testCall(channel string, transcriptBytes int) NewCall {
	c := model.Call{Routing: model.RoutingNone, Direction: model.DirectionIn, Status: model.StatusClosed, ChannelID: channel}
	if transcriptBytes > 0 {
		c.Transcript = []model.TranscriptEntry{{Speaker: "customer", Message: strings.Repeat("x", transcriptBytes)}}
	}
	return NewCall{Call: c}
}

// TestMaxSizeRefusesAndRecovers fills a capped file: the write that does
// not fit gets ErrFull, nothing stored is harmed, the store is not failed,
// and writes succeed again once space is freed.
func TestMaxSizeRefusesAndRecovers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s := openTest(t, path, Options{MaxSize: 1 << 20})
	ctx := context.Background()
	// Customers take space that deleting them gives back later.
	var custs []model.Customer
	for i := range 200 {
		custs = append(custs, model.Customer{ID: fmt.Sprintf("k%d", i), Firstname: strings.Repeat("n", 1000)})
	}
	if err := s.UpsertCustomers(ctx, custs); err != nil {
		t.Fatal(err)
	}
	var acked []int64
	var full error
	for i := 0; i < 10000 && full == nil; i++ {
		res, err := s.CreateCall(ctx, testCall(fmt.Sprintf("fill-%d", i), 2000))
		if err != nil {
			full = err
			break
		}
		acked = append(acked, res.Answer.TicketID)
	}
	if !errors.Is(full, ErrFull) {
		t.Fatalf("filling a 1 MiB database: want ErrFull, got %v", full)
	}
	if len(acked) == 0 {
		t.Fatal("no call fitted before the cap")
	}
	if s.Failed() != nil {
		t.Fatalf("a full database failed the store: %v", s.Failed())
	}
	select {
	case <-s.Fatal():
		t.Fatal("a full database was treated as fatal")
	default:
	}
	if st, err := os.Stat(path); err != nil || st.Size() > 1<<20 {
		t.Fatalf("file size %v over the cap (%v)", st.Size(), err)
	}
	for _, id := range acked {
		if _, _, err := s.Ticket(id); err != nil {
			t.Fatalf("acknowledged ticket %d: %v", id, err)
		}
	}
	if err := s.Check(); err != nil {
		t.Fatalf("check after ErrFull: %v", err)
	}
	for _, c := range custs {
		if err := s.DeleteCustomer(ctx, c.ID); err != nil && !errors.Is(err, ErrFull) {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateCall(ctx, testCall("after-space-returned", 2000)); err != nil {
		t.Fatalf("write after space returned: %v", err)
	}
}

// TestCommitIOErrorIsFatal makes the file unwritable under a running store
// (its descriptor becomes read-only): the commit fails, Fatal closes, and
// every later write is refused while reads still work.
func TestCommitIOErrorIsFatal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	var file *os.File
	s := openTest(t, path, Options{OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		file = f
		return f, err
	}})
	ctx := context.Background()
	res, err := s.CreateCall(ctx, testCall("before", 0))
	if err != nil {
		t.Fatal(err)
	}
	ro, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := syscall.Dup2(int(ro.Fd()), int(file.Fd())); err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateCall(ctx, testCall("during", 3000))
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("commit on a read-only descriptor: want ErrFailed, got %v", err)
	}
	select {
	case <-s.Fatal():
	default:
		t.Fatal("Fatal not closed after a commit I/O error")
	}
	if _, err := s.CreateCall(ctx, testCall("after", 0)); !errors.Is(err, ErrFailed) {
		t.Fatalf("write after failure: want ErrFailed, got %v", err)
	}
	if _, _, err := s.Ticket(res.Answer.TicketID); err != nil {
		t.Fatalf("read after failure: %v", err)
	}
}
