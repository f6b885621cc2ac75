package db

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	json "github.com/goccy/go-json"

	"github.com/enneo-edge/enneo-edge/model"
)

// Replicator puts the store's writes on a replicated log (package
// cluster). With one set (SetReplicator), every write method of the store
// encodes itself as a command and submits it instead of writing; every
// member's copy of the log then hands the command to Apply, which runs the
// same method body on its own file. Without one (a single appliance) the
// methods write as they always did and nothing is encoded.
type Replicator interface {
	// Submit appends cmd to the log and returns, once it is committed on
	// a quorum and applied on the leader, what Apply answered for it: the
	// encoded result, or the use case's error (ErrNotFound, ErrConflict,
	// model.ErrInvalid survive the trip). Any other error means the
	// outcome is unknown (no leader, lost quorum, timeout).
	Submit(ctx context.Context, cmd []byte) ([]byte, error)
	// Barrier returns once this member has applied every command
	// committed before the call, so a read after it sees every write
	// acknowledged anywhere before it (a linearizable read).
	Barrier(ctx context.Context) error
}

// SetReplicator makes the store a member of a cluster: from now on its
// write methods go through r. Call it before the store serves anyone.
func (s *Store) SetReplicator(r Replicator) { s.repl = r }

// WithReplicator is the store with its writes going through r instead:
// the same file and engine, another path to the log (a leader's own work
// appends only while it leads, see cluster.Node.LeaderOnly).
func (s *Store) WithReplicator(r Replicator) *Store {
	cp := *s
	cp.repl = r
	return &cp
}

// Op names a command: which store method it replays.
type Op byte

// The commands, one per write method of the store. Their numbers are on
// the replicated log: never renumber one, only add.
const (
	opCreateCall Op = iota + 1
	opSetRoutingStatus
	opAgentConnected
	opCallCompleted
	opExpireDue
	opReEvaluate
	opPutAgent
	opReplaceDirectory
	opUpsertCustomers
	opDeleteCustomer
	opMarkDelivered
	opRecordFailure
	opDeadLetter
	opRetryDead
	opRetryAllDead
	opExtendSendLease
	opSetPaused
	opPruneSynced
	opPruneAirGapped
	opSetAPIToken
	opAppendOutbox
	opCount // keep last
)

// cmdHeader is the op byte and the command's time (Unix nanoseconds, big
// endian); the JSON arguments follow.
const cmdHeader = 9

// StampCommand fixes the time a command is applied at. The leader stamps
// every command it appends with its own clock, so every member applies it
// at the same instant whatever its own clock says.
func StampCommand(cmd []byte, now time.Time) {
	if len(cmd) >= cmdHeader {
		binary.BigEndian.PutUint64(cmd[1:cmdHeader], uint64(now.UnixNano()))
	}
}

// CommandTime is the time stamped into cmd.
func CommandTime(cmd []byte) time.Time {
	if len(cmd) < cmdHeader {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(cmd[1:cmdHeader]))).UTC()
}

func encodeCommand(op Op, now time.Time, args any) ([]byte, error) {
	b, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("encode command %d: %w", op, err)
	}
	cmd := make([]byte, cmdHeader, cmdHeader+len(b))
	cmd[0] = byte(op)
	StampCommand(cmd, now)
	return append(cmd, b...), nil
}

// submit runs one write method on the cluster: it encodes the arguments,
// submits them and decodes the method's result into out (nil: none).
func (s *Store) submit(ctx context.Context, op Op, args, out any) error {
	cmd, err := encodeCommand(op, s.now(), args)
	if err != nil {
		return err
	}
	res, err := s.repl.Submit(ctx, cmd)
	if err != nil {
		return err
	}
	if out == nil || len(res) == 0 {
		return nil
	}
	if err := json.Unmarshal(res, out); err != nil {
		return fmt.Errorf("decode result of command %d: %w", op, err)
	}
	return nil
}

// linearize makes the read that follows see every write acknowledged
// anywhere in the cluster before it (Replicator.Barrier); a single
// appliance reads its own committed state, which is that already.
func (s *Store) linearize() error {
	if s.repl == nil || s.inTx != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), linearizeTimeout)
	defer cancel()
	return s.repl.Barrier(ctx)
}

// linearizeTimeout bounds how long a read waits to catch up with the
// leader before it answers 503.
const linearizeTimeout = 5 * time.Second

// Error codes carry a use case's error from the leader to the member that
// submitted the command, so the server maps it to the same status code.
const (
	ErrCodeOther    byte = iota // a plain error: its text only
	ErrCodeNotFound             // ErrNotFound
	ErrCodeConflict             // ErrConflict
	ErrCodeInvalid              // model.ErrInvalid
	ErrCodeFull                 // ErrFull (the leader's disk)
)

// EncodeError splits a use case's error into a code and its text.
func EncodeError(err error) (code byte, msg string) {
	switch {
	case errors.Is(err, ErrNotFound):
		code = ErrCodeNotFound
	case errors.Is(err, ErrConflict):
		code = ErrCodeConflict
	case errors.Is(err, model.ErrInvalid):
		code = ErrCodeInvalid
	case errors.Is(err, ErrFull):
		code = ErrCodeFull
	}
	return code, err.Error()
}

// DecodeError rebuilds what EncodeError split: an error with the same text
// that errors.Is matches against the same sentinel.
func DecodeError(code byte, msg string) error {
	var sentinel error
	switch code {
	case ErrCodeNotFound:
		sentinel = ErrNotFound
	case ErrCodeConflict:
		sentinel = ErrConflict
	case ErrCodeInvalid:
		sentinel = model.ErrInvalid
	case ErrCodeFull:
		sentinel = ErrFull
	}
	return &remoteError{msg: msg, is: sentinel}
}

type remoteError struct {
	msg string
	is  error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.is }
