package db

import (
	"errors"

	"github.com/enneo-edge/enneo-edge/callflow"
	"github.com/enneo-edge/enneo-edge/db/engine"
)

// Errors returned by the store, grouped by when they happen. The server maps
// them to status codes in one table.
var (
	// ErrNotFound is returned by lookups of a ticket, customer or queue
	// entry the edge does not hold (callflow's, so both rooms return one).
	ErrNotFound = callflow.ErrNotFound

	// ErrClosed is returned when a write is submitted after Close began.
	ErrClosed = engine.ErrClosed

	// ErrCommitTimeout is returned when a write waited longer than its
	// deadline for the commit; the outcome is unknown and the client should
	// retry with the same channelId.
	ErrCommitTimeout = engine.ErrCommitTimeout

	// ErrReadTimeout is returned by a read that saw a commit whose log
	// write did not finish in time (the disk stalls); retry the read.
	ErrReadTimeout = engine.ErrReadTimeout

	// ErrFull is returned for a write that did not fit: the file reached
	// storage.max_size_bytes or the disk is full. Nothing was written and
	// what is stored is intact; writes succeed again once space returns.
	ErrFull = engine.ErrFull

	// ErrCorrupt is returned by Open when the file fails bbolt's
	// consistency check; the file is left as it was.
	ErrCorrupt = engine.ErrCorrupt

	// ErrFailed is returned for every write after a commit failed with an
	// I/O error: the on-disk state is unknown until the process restarts.
	ErrFailed = engine.ErrFailed

	// ErrBackupBusy is returned by BeginBackup while another backup is open.
	ErrBackupBusy = engine.ErrBackupBusy

	// ErrConflict is returned when a request contradicts the current state:
	// an ifCurrent that does not match, an agent set idle or connected
	// while on another call, a call connected after it ended (callflow's).
	ErrConflict = callflow.ErrConflict

	// ErrNoQuorum is returned in cluster mode by a write or a
	// linearizable read on a member that cannot reach a quorum: no leader
	// is known, the leader lost its majority, or this member is cut off
	// from it. Nothing was stored; the PBX retries on another member.
	ErrNoQuorum = errors.New("cluster: this member reaches no quorum (no leader, or cut off from it); nothing was stored, retry on another member")
)
