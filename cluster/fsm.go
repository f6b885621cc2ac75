package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/enneo-edge/enneo-edge/db"
)

// Store is what the state machine needs of the database (*db.Store).
type Store interface {
	Apply(ctx context.Context, indexes []uint64, cmds [][]byte) ([]db.Applied, error)
	// RoomFor is nil when the file has room for cmd, else ErrFull: the
	// leader asks before it appends (db.Store.RoomFor).
	RoomFor(cmd []byte) error
	AppliedIndex() (uint64, error)
	BeginBackup() (*db.Backup, error)
	Restore(r io.Reader) error
}

// fsm is raft's state machine: the store. A batch of committed entries is
// one transaction of the store (db.Store.Apply), which also records the
// last index applied; raft's log batches concurrent writes into one
// append, this into one commit.
type fsm struct {
	store Store
	log   *slog.Logger
	// onFail is told once when the store could not apply a batch: the
	// member must stop (see fail).
	onFail func(error)

	applied atomic.Uint64
	failed  atomic.Pointer[error]
	// stamps is the member's floor for the stamps it gives as leader
	// (Node.lastStamp): raised to every command applied, so a new leader
	// whose clock is behind the old one never stamps a command before one
	// already applied (its ring and after-call timers would run late by
	// the difference).
	stamps *atomic.Int64
	// stop ends a stall (Node.done): the member is closing.
	stop <-chan struct{}
	// stalled is why applying waits (the file has no room for the next
	// committed batch), or nil; readyz reports it (Node.Healthy).
	stalled atomic.Pointer[error]
	// onStall is told at every attempt of a stalled batch (Node: a
	// leader hands its role over).
	onStall func()

	mu      sync.Mutex
	advance chan struct{} // closed and replaced whenever applied grows
}

var _ raft.BatchingFSM = (*fsm)(nil)

func newFSM(store Store, log *slog.Logger, onFail func(error)) (*fsm, error) {
	f := &fsm{store: store, log: log, onFail: onFail, advance: make(chan struct{})}
	idx, err := store.AppliedIndex()
	if err != nil {
		return nil, fmt.Errorf("read applied index: %w", err)
	}
	f.applied.Store(idx)
	return f, nil
}

// applyResult is what an ApplyFuture's Response holds.
type applyResult struct {
	res []byte
	err error
}

// ApplyBatch applies committed entries in order, in one store transaction.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	if len(logs) == 0 {
		return out
	}
	if ep := f.failed.Load(); ep != nil {
		for i := range out {
			out[i] = applyResult{err: *ep}
		}
		return out
	}
	var (
		idx  []uint64
		cmds [][]byte
		pos  []int
	)
	for i, l := range logs {
		if l.Type == raft.LogCommand {
			idx, cmds, pos = append(idx, l.Index), append(cmds, l.Data), append(pos, i)
			raiseStamp(f.stamps, db.CommandTime(l.Data).UnixNano())
		}
	}
	if len(cmds) > 0 {
		res, err := f.applyRoom(idx, cmds)
		if err != nil {
			err = f.fail(err)
			for i := range out {
				out[i] = applyResult{err: err}
			}
			return out
		}
		for j, p := range pos {
			out[p] = applyResult{res: res[j].Result, err: res[j].Err}
		}
	}
	f.setApplied(logs[len(logs)-1].Index)
	return out
}

// fullRetry is how often a stalled state machine tries its batch again.
const fullRetry = 5 * time.Second

// applyRoom applies a batch, waiting while the file has no room for it.
// A committed entry may not be skipped (the others applied it: skipping
// would split the state), and failing would stop the member only for the
// same batch to fail again at every restart. ErrFull stores nothing, so
// the same batch is tried again every fullRetry, with an error line each
// time and readyz unready with the reason, until the operator frees disk
// space (applying resumes by itself) or raises storage.max_size_bytes
// (a restart, after which the batch is replayed). raft goes on meanwhile:
// this member keeps its log and votes, and applies what it missed once it
// resumes. Only Close ends the wait, as a failure.
func (f *fsm) applyRoom(idx []uint64, cmds [][]byte) ([]db.Applied, error) {
	for attempt := 1; ; attempt++ {
		res, err := f.store.Apply(context.Background(), idx, cmds)
		if err == nil || !errors.Is(err, db.ErrFull) || errors.Is(err, db.ErrFailed) {
			if err == nil && f.stalled.Swap(nil) != nil {
				f.log.Info("cluster: the database has room again; applying resumed", "entry", idx[0], "attempts", attempt)
			}
			return res, err
		}
		err = fmt.Errorf("cluster: applying entries from %d waits for room in the database: %w; "+
			"free disk space beside the database (applying resumes by itself) or raise storage.max_size_bytes and restart", idx[0], err)
		f.stalled.Store(&err)
		f.log.Error("cluster: the database is full; committed entries wait, this member is not ready",
			"entry", idx[0], "attempt", attempt, "retry", fullRetry, "err", err)
		if f.onStall != nil {
			f.onStall()
		}
		select {
		case <-time.After(fullRetry):
		case <-f.stop:
			return nil, err
		}
	}
}

// Stalled is why applying waits for room in the database, or nil.
func (f *fsm) Stalled() error {
	if ep := f.stalled.Load(); ep != nil {
		return *ep
	}
	return nil
}

// Apply is ApplyBatch for one entry (raft.FSM).
func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// fail stops applying after the store failed to commit a batch (an I/O
// error, a full disk): the file holds everything before that batch and its
// applied index says so, but raft believes the batch applied, so this
// member must not go on. Every later entry answers the error, and onFail
// makes the process exit; on restart raft replays from the file's index.
func (f *fsm) fail(err error) error {
	err = fmt.Errorf("%w: the state machine could not apply committed entries, this member must restart: %w", db.ErrFailed, err)
	if f.failed.CompareAndSwap(nil, &err) {
		f.log.Error("cluster: apply failed; stopping", "err", err)
		if f.onFail != nil {
			go f.onFail(err)
		}
	}
	return *f.failed.Load()
}

// Failed is the error that stopped the state machine, or nil.
func (f *fsm) Failed() error {
	if ep := f.failed.Load(); ep != nil {
		return *ep
	}
	return nil
}

func (f *fsm) setApplied(i uint64) {
	if i <= f.applied.Load() {
		return
	}
	f.applied.Store(i)
	f.mu.Lock()
	close(f.advance)
	f.advance = make(chan struct{})
	f.mu.Unlock()
}

func (f *fsm) appliedIndex() uint64 { return f.applied.Load() }

// changed is closed when the applied index next grows.
func (f *fsm) changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.advance
}

// Snapshot copies the store's committed state (raft calls it between
// batches, so the copy holds exactly what is applied).
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	// After a failed batch raft's own index runs on past what the file
	// holds: a snapshot now would let raft compact entries this member
	// never applied, and a restart would skip them for good.
	if err := f.Failed(); err != nil {
		return nil, fmt.Errorf("snapshot: the state machine stopped: %w", err)
	}
	idx, err := f.store.AppliedIndex()
	if err != nil {
		return nil, err
	}
	b, err := f.store.BeginBackup()
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return &snapshot{index: idx, b: b}, nil
}

// Restore installs a snapshot, unless the file already holds at least as
// much: raft restores the newest snapshot at every start, and a file that
// applied past it (it always has, unless it was lost) keeps what it has,
// so a restart replays only the entries after the file's applied index.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var hdr [8]byte
	if _, err := io.ReadFull(rc, hdr[:]); err != nil {
		return fmt.Errorf("snapshot header: %w", err)
	}
	idx := binary.BigEndian.Uint64(hdr[:])
	have, err := f.store.AppliedIndex()
	if err != nil {
		return err
	}
	if idx <= have {
		f.log.Info("cluster: the database already holds the snapshot; kept", "snapshot", idx, "applied", have)
		f.setApplied(have)
		return nil
	}
	f.log.Info("cluster: installing a snapshot", "snapshot", idx, "applied", have)
	if err := f.store.Restore(rc); err != nil {
		return err
	}
	got, err := f.store.AppliedIndex()
	if err != nil {
		return err
	}
	if got != idx {
		return errors.New("snapshot: the restored file names another applied index than its header")
	}
	f.setApplied(idx)
	return nil
}

// snapshot is one copy of the file, streamed to raft's snapshot store
// behind an 8-byte header with the applied index it holds.
type snapshot struct {
	index uint64
	b     *db.Backup
}

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], s.index)
	_, err := sink.Write(hdr[:])
	if err == nil {
		_, err = s.b.WriteTo(sink)
	}
	if err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *snapshot) Release() { _ = s.b.Close() }

// raiseStamp lifts floor to at least t (nil: no floor kept).
func raiseStamp(floor *atomic.Int64, t int64) {
	if floor == nil {
		return
	}
	for {
		cur := floor.Load()
		if t <= cur || floor.CompareAndSwap(cur, t) {
			return
		}
	}
}
