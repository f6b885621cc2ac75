package engine

import (
	"context"

	bolt "go.etcd.io/bbolt"
)

// WriteCommitted is Write answered as soon as the transaction is committed
// to the file, before the log's fsync makes it durable. The order of what
// reaches the disk is the same as for Write, so a crash still leaves a
// prefix of the commits: only the caller learns earlier. For a caller
// whose writes are durable elsewhere already (a cluster member applies
// entries its replicated log has on a quorum's disk, and replays what a
// crash took from the file), so that it need not wait for a second fsync
// in series. A failed fsync still fails the engine (Fatal).
func (e *Engine) WriteCommitted(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	return e.submit(ctx, &op{fn: fn, done: make(chan error, 1), committed: true})
}

// answerCommitted answers the batch's WriteCommitted ops at once; syncLoop
// answers the others after the fsync.
func answerCommitted(batch []*op) {
	for _, o := range batch {
		if o.committed {
			o.done <- nil
		}
	}
}
