package engine

import "errors"

// Errors returned by the engine, grouped by when they happen. The schema
// (package db) re-exports them under the same names, so errors.Is works
// against either.
var (
	// ErrClosed is returned when a write is submitted after Close began.
	ErrClosed = errors.New("store is closed")

	// ErrCommitTimeout is returned when a write waited longer than its
	// deadline for the commit; the outcome is unknown and the client should
	// retry with the same channelId.
	ErrCommitTimeout = errors.New("commit did not finish in time; outcome unknown, retry with the same channelId")

	// ErrReadTimeout is returned by a read that saw a commit whose log
	// write did not finish in time (the disk stalls); retry the read.
	ErrReadTimeout = errors.New("the data read is not durable yet (the disk is slow); retry the request")

	// ErrFull is returned for a write that did not fit: the file reached
	// storage.max_size_bytes or the disk is full. Nothing was written and
	// what is stored is intact; writes succeed again once space returns.
	ErrFull = errors.New("database full (storage.max_size_bytes reached or disk full); nothing was stored, retry later")

	// ErrCorrupt is returned by Open when the file fails bbolt's
	// consistency check; the file is left as it was.
	ErrCorrupt = errors.New("database file is damaged")

	// ErrFailed is returned for every write after a commit failed with an
	// I/O error: the on-disk state is unknown until the process restarts.
	ErrFailed = errors.New("storage failed; restart required")

	// ErrFormat is returned by Open and RecoverWAL for a file whose meta
	// pages carry a bbolt format version other than the one the log's page
	// handling (walpage.go) was written and tested for; the file is left
	// untouched. A bbolt upgrade that changes the format must come with an
	// update of walpage.go and its tests.
	ErrFormat = errors.New("database file format unknown to this build")

	// ErrBackupBusy is returned by BeginBackup while another backup is
	// open: each one holds a full copy on disk, and two at once double that
	// for no gain.
	ErrBackupBusy = errors.New("another backup is in progress; retry when it is done")
)
