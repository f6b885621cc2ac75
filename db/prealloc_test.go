package db

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
)

func TestPreallocatedTailIsWrittenAndHarmless(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s, err := Open(path, Options{SiteID: 3})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	res, err := s.CreateCall(ctx, benchCall(1))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size < preallocChunk {
		t.Fatalf("file is %d bytes, want at least the %d preallocated", st.Size, preallocChunk)
	}
	// Written, not sparse: the filesystem holds blocks for the whole tail
	// (bbolt's own first pages may keep a hole or two).
	if allocated := st.Blocks * 512; allocated < preallocChunk {
		t.Errorf("%d of %d bytes allocated: the tail is sparse", allocated, st.Size)
	}

	// bbolt opens the longer file, finds the call, and its check passes.
	s, err = Open(path, Options{SiteID: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatalf("check: %v", err)
	}
	tk, _, err := s.Ticket(res.Answer.TicketID)
	if err != nil || tk.ChannelID != "bench-1" {
		t.Fatalf("ticket %+v, %v", tk, err)
	}
}
