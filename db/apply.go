package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/model"
)

// Applied is what Apply answers for one command: the method's encoded
// result, or its error (the command then changed nothing).
type Applied struct {
	Result []byte
	Err    error
}

// AppliedIndex is the index of the last log entry whose command this file
// holds (0: none). It is written in the same transaction as the commands,
// so after any crash it names exactly what the file holds.
func (s *Store) AppliedIndex() (uint64, error) {
	var n uint64
	err := s.eng.Bolt().View(func(tx *bolt.Tx) error {
		n = appliedIn(tx)
		return nil
	})
	return n, err
}

func appliedIn(tx *bolt.Tx) uint64 {
	if v := tx.Bucket(bucketMeta).Get(metaApplied); len(v) == 8 {
		return uint64(fromU64(v))
	}
	return 0
}

// cmdError marks which command of a batch failed, so only it is dropped.
type cmdError struct {
	i   int
	err error
}

func (e *cmdError) Error() string { return e.err.Error() }

// Apply applies the committed commands cmds, at log indexes indexes (in
// increasing order), in one transaction of the group commit, and stores
// the last index in it. A command at or below the stored applied index is
// already in the file (a restart replays the log from its last snapshot)
// and is skipped, answering nothing. Each command runs the very method
// the single appliance runs, on a copy of the store whose writes go into
// this transaction and whose clock reads the command's stamp: the same
// commands on the same state give the same state on every member. A
// command whose method fails is left out (its error is its answer); the
// others commit. An error from Apply itself is the engine's (the commit
// failed): nothing of the batch is stored.
func (s *Store) Apply(ctx context.Context, indexes []uint64, cmds [][]byte) ([]Applied, error) {
	if len(indexes) != len(cmds) {
		return nil, fmt.Errorf("apply: %d indexes for %d commands", len(indexes), len(cmds))
	}
	out := make([]Applied, len(cmds))
	failed := make([]bool, len(cmds))
	for {
		// Answered at the commit, not after the log's fsync: the entries
		// are on a quorum's raft log already, and a crash that takes them
		// from this file takes the applied index with them, so the log
		// replays them (ARCHITECTURE.md, "Cluster").
		err := s.eng.WriteCommitted(ctx, func(tx *bolt.Tx) error {
			applied := appliedIn(tx)
			last := applied
			cp := s.replay(tx)
			for i, cmd := range cmds {
				if indexes[i] <= applied {
					continue
				}
				last = indexes[i]
				if failed[i] {
					continue
				}
				at := CommandTime(cmd)
				cp.clock = stamp(at)
				res, err := cp.run(ctx, cmd)
				if err != nil {
					return &cmdError{i: i, err: err}
				}
				out[i] = Applied{Result: res}
			}
			if last == applied {
				return nil
			}
			return tx.Bucket(bucketMeta).Put(metaApplied, u64(int64(last)))
		})
		var ce *cmdError
		if errors.As(err, &ce) && errors.Is(ce.err, ErrUndecodable) {
			// Not an answer but a member that cannot follow the log:
			// skipping the entry here while the others apply it would
			// split the state, so the batch fails and the member stops.
			return nil, fmt.Errorf("apply entry %d: %w", indexes[ce.i], ce.err)
		}
		if errors.As(err, &ce) {
			failed[ce.i] = true
			out[ce.i] = Applied{Err: ce.err}
			continue
		}
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

// replay is the copy of the store Apply runs a batch's commands on: the
// same file, schema and flow, writing into tx, with no replicator (the
// commands are on the log already). It names the fields instead of
// copying *s because raft replays committed entries through Apply as soon
// as the member starts, before SetReplicator has set repl, which Apply
// must therefore never read (the race detector caught a copy of *s in
// TestRestartReplaysOnlyMissing). A field added to Store is added here
// (TestReplayCopiesEveryField).
func (s *Store) replay(tx *bolt.Tx) Store {
	return Store{eng: s.eng, path: s.path, site: s.site, max: s.max, clock: s.clock,
		flow: s.flow, recent: s.recent, inTx: tx}
}

// ErrUndecodable is a committed command this build cannot decode or does
// not know (a newer leader's, or a damaged entry). Apply fails the whole
// batch on it, so the member stops instead of diverging.
var ErrUndecodable = errors.New("apply: undecodable command")

// run decodes one command and runs its method on the apply copy.
func (s *Store) run(ctx context.Context, cmd []byte) ([]byte, error) {
	if len(cmd) < cmdHeader {
		return nil, fmt.Errorf("%w: command of %d bytes: too short", ErrUndecodable, len(cmd))
	}
	op, args := Op(cmd[0]), cmd[cmdHeader:]
	res, err := s.runOp(ctx, op, args)
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, nil
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("encode result of command %d: %w", op, err)
	}
	return b, nil
}

// The arguments of commands whose method takes more than one.
type (
	routingStatusArgs struct {
		UserID int64                     `json:"u"`
		Change model.RoutingStatusChange `json:"c"`
	}
	seqArgs struct {
		Seq       uint64     `json:"s"`
		CentralID int64      `json:"c,omitempty"`
		Failure   Failure    `json:"f"`
		Dead      DeadReason `json:"d"`
	}
	pruneArgs struct {
		Cutoff time.Time `json:"c"`
		Limit  int       `json:"l"`
	}
	pruneResult struct {
		Tickets int `json:"t"`
		Records int `json:"r"`
	}
)

func decode[T any](args []byte) (T, error) {
	var v T
	if err := json.Unmarshal(args, &v); err != nil {
		return v, fmt.Errorf("%w: decode command arguments: %w", ErrUndecodable, err)
	}
	return v, nil
}

// runOp is the table of commands: each decodes its arguments and calls
// its method, which on the apply copy writes into Apply's transaction.
func (s *Store) runOp(ctx context.Context, op Op, args []byte) (any, error) {
	switch op {
	case opCreateCall:
		nc, err := decode[NewCall](args)
		if err != nil {
			return nil, err
		}
		return s.CreateCall(ctx, nc)
	case opSetRoutingStatus:
		a, err := decode[routingStatusArgs](args)
		if err != nil {
			return nil, err
		}
		return s.SetRoutingStatus(ctx, a.UserID, a.Change)
	case opAgentConnected:
		r, err := decode[model.AgentConnected](args)
		if err != nil {
			return nil, err
		}
		return s.AgentConnected(ctx, r)
	case opCallCompleted:
		r, err := decode[model.CallCompleted](args)
		if err != nil {
			return nil, err
		}
		return s.CallCompleted(ctx, r)
	case opExpireDue:
		return s.ExpireDue(ctx)
	case opReEvaluate:
		clean, err := decode[bool](args)
		if err != nil {
			return nil, err
		}
		return nil, s.ReEvaluate(ctx, clean)
	case opPutAgent:
		a, err := decode[model.Agent](args)
		if err != nil {
			return nil, err
		}
		return s.PutAgent(ctx, a)
	case opReplaceDirectory:
		d, err := decode[Directory](args)
		if err != nil {
			return nil, err
		}
		return s.ReplaceDirectory(ctx, d)
	case opUpsertCustomers:
		b, err := decode[[]model.Customer](args)
		if err != nil {
			return nil, err
		}
		return nil, s.UpsertCustomers(ctx, b)
	case opDeleteCustomer:
		id, err := decode[string](args)
		if err != nil {
			return nil, err
		}
		return nil, s.DeleteCustomer(ctx, id)
	case opSetAPIToken:
		tok, err := decode[string](args)
		if err != nil {
			return nil, err
		}
		return nil, s.SetAPIToken(ctx, tok)
	case opSetPaused:
		p, err := decode[*PauseState](args)
		if err != nil {
			return nil, err
		}
		return nil, s.SetPaused(ctx, p)
	case opRetryAllDead:
		return s.RetryAllDead(ctx)
	case opAppendOutbox:
		r, err := decode[OutboxRecord](args)
		if err != nil {
			return nil, err
		}
		return s.AppendOutbox(ctx, r)
	}
	return s.runForwardOp(ctx, op, args)
}

// runForwardOp holds the commands of forwarding and retention.
func (s *Store) runForwardOp(ctx context.Context, op Op, args []byte) (any, error) {
	switch op {
	case opMarkDelivered, opRecordFailure, opDeadLetter, opRetryDead, opExtendSendLease:
		a, err := decode[seqArgs](args)
		if err != nil {
			return nil, err
		}
		switch op {
		case opMarkDelivered:
			return nil, s.MarkDelivered(ctx, a.Seq, a.CentralID)
		case opRecordFailure:
			return s.RecordFailure(ctx, a.Seq, a.Failure)
		case opDeadLetter:
			return nil, s.DeadLetter(ctx, a.Seq, a.Dead)
		case opRetryDead:
			return s.RetryDead(ctx, a.Seq)
		default:
			return nil, s.ExtendSendLease(ctx, a.Seq)
		}
	case opPruneSynced, opPruneAirGapped:
		a, err := decode[pruneArgs](args)
		if err != nil {
			return nil, err
		}
		if op == opPruneSynced {
			return s.PruneSynced(ctx, a.Cutoff, a.Limit)
		}
		t, r, err := s.PruneAirGapped(ctx, a.Cutoff, a.Limit)
		return pruneResult{Tickets: t, Records: r}, err
	}
	return nil, fmt.Errorf("%w: command %d unknown to this build (a newer member appended it?)", ErrUndecodable, op)
}

// stamp is the clock of a replayed command: every read of the time in its
// use case gives the instant the leader stamped on it.
type stamp time.Time

func (s stamp) Now() time.Time                       { return time.Time(s) }
func (stamp) After(d time.Duration) <-chan time.Time { return time.After(d) }
