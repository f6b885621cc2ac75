package cluster

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/enneo-edge/enneo-edge/db"
)

// failingStore fails every Apply, as a full or broken disk does.
type failingStore struct{ Store }

func (failingStore) Apply(context.Context, []uint64, [][]byte) ([]db.Applied, error) {
	return nil, errors.New("disk on fire")
}
func (failingStore) AppliedIndex() (uint64, error) { return 3, nil }
func (failingStore) BeginBackup() (*db.Backup, error) {
	return nil, errors.New("BeginBackup must not be reached")
}

// After a batch failed, the state machine refuses to snapshot: raft's
// index has run past what the file holds, and a snapshot would let raft
// compact entries this member never applied.
func TestNoSnapshotAfterAFailedBatch(t *testing.T) {
	f, err := newFSM(failingStore{}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	out := f.ApplyBatch([]*raft.Log{{Index: 4, Type: raft.LogCommand, Data: []byte{1, 0, 0, 0, 0, 0, 0, 0, 0}}})
	if r, ok := out[0].(applyResult); !ok || r.err == nil {
		t.Fatalf("the batch answered %#v, want its error", out[0])
	}
	if _, err := f.Snapshot(); err == nil || !errors.Is(err, db.ErrFailed) {
		t.Fatalf("Snapshot after a failed batch: %v, want the failure", err)
	}
}
