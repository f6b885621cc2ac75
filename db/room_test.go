package db

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// RoomFor refuses a command once the pages in use come within the
// reserve of the cap, never a prune (the way to make room), lets the
// forwarder's progress use most of the reserve, and does not
// trip on a command too short to name its op.
func TestRoomForRefusesNearTheCapButNotPrunes(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "edge.db"), Options{MaxSize: 1 << 20})
	ctx := context.Background()
	call, err := encodeCommand(opCreateCall, time.Now(), testCall("probe", 2000))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RoomFor(call); err != nil {
		t.Fatalf("an empty store: %v", err)
	}
	for i := 0; s.RoomFor(call) == nil; i++ {
		if i == 20000 {
			t.Fatal("RoomFor never refused")
		}
		if _, err := s.CreateCall(ctx, testCall(fmt.Sprintf("room-%d", i), 2000)); err != nil {
			t.Fatalf("call %d, while RoomFor saw room: %v", i, err)
		}
	}
	if err := s.RoomFor(call); !errors.Is(err, ErrFull) {
		t.Fatalf("near the cap: %v, want ErrFull", err)
	}
	if err := s.RoomFor(nil); err != nil && !errors.Is(err, ErrFull) {
		t.Fatalf("an empty command near the cap: %v", err)
	}
	mark, err := encodeCommand(opMarkDelivered, time.Now(), seqArgs{Seq: 1, CentralID: 7})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RoomFor(mark); err != nil {
		t.Fatalf("a delivery mark near the cap: %v, want room (it lets retention prune)", err)
	}
	for _, op := range []Op{opPruneSynced, opPruneAirGapped} {
		prune, err := encodeCommand(op, time.Now(), pruneArgs{Cutoff: time.Now(), Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RoomFor(prune); err != nil {
			t.Fatalf("prune %d near the cap: %v, want room", op, err)
		}
	}
	if uncapped := openTest(t, filepath.Join(t.TempDir(), "edge.db"), Options{}); uncapped.RoomFor(call) != nil {
		t.Fatalf("no cap: %v", uncapped.RoomFor(call))
	}
}

// BenchmarkRoomFor is what the check costs a leader per write (a read
// transaction, bbolt's stats, a statfs when the file would grow).
func BenchmarkRoomFor(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "edge.db"), Options{SiteID: 1, MaxSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	cmd, err := encodeCommand(opCreateCall, time.Now(), testCall("bench", 2000))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := s.RoomFor(cmd); err != nil {
			b.Fatal(err)
		}
	}
}
