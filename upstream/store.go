package upstream

import (
	"context"

	"github.com/enneo-edge/enneo-edge/db"
)

// Outbox is what the forwarder needs of the database (db.Store): the
// records to send in order, their outcomes, the send lease that survives a
// crash, and the pause after central refused the credentials.
type Outbox interface {
	NextOutbox(max, scan int, busy func(key string) bool) ([]db.Ready, error)
	MarkDelivered(ctx context.Context, seq uint64, centralID int64) error
	RecordFailure(ctx context.Context, seq uint64, fl db.Failure) (int, error)
	DeadLetter(ctx context.Context, seq uint64, why db.DeadReason) error
	SendLease() (uint64, error)
	ExtendSendLease(ctx context.Context, upTo uint64) error
	SetPaused(ctx context.Context, p *db.PauseState) error
	Paused() (*db.PauseState, error)
}

// DirectoryStore is what the puller needs of the database (db.Store): one
// durable replacement of the agents and lines.
type DirectoryStore interface {
	ReplaceDirectory(ctx context.Context, d db.Directory) (db.DirectoryState, error)
}

var (
	_ Outbox         = (*db.Store)(nil)
	_ DirectoryStore = (*db.Store)(nil)
)
