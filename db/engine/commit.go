package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxBatch bounds how many calls share one commit, so one fsync never
// carries an unbounded transaction.
const maxBatch = 512

// op is one write waiting for the group commit. fn may run more than once
// (when another op of its batch fails, the batch is retried without it), so
// it must only write into the transaction and into its own result fields.
type op struct {
	fn   func(tx *bolt.Tx) error
	done chan error
	// committed: answer once the transaction is committed, before the
	// log's fsync (WriteCommitted).
	committed bool
}

// opError marks which op of a batch failed, so only that op is dropped.
type opError struct {
	idx int
	err error
}

func (e *opError) Error() string { return e.err.Error() }

// Run is the group-commit loop: it takes every write waiting at the moment,
// commits them in one transaction and answers each once it is durable
// (with the log, syncLoop answers after the log's fsync). An idle store
// commits a lone write at once; under load, writes that arrive during one
// fsync share the next. It returns when ctx ends, after answering every
// write already queued.
func (e *Engine) Run(ctx context.Context) {
	if e.running.Swap(true) {
		return // Close came first
	}
	if e.wal != nil {
		e.pipe = make(chan pending)
		synced := make(chan struct{})
		go e.syncLoop(synced)
		defer func() {
			close(e.pipe)
			<-synced
			close(e.stopped)
		}()
	} else {
		defer close(e.stopped)
	}
	batch := make([]*op, 0, maxBatch)
	for {
		select {
		case o := <-e.ops:
			batch = append(batch[:0], o)
		fill:
			for len(batch) < maxBatch {
				select {
				case o := <-e.ops:
					batch = append(batch, o)
				default:
					break fill
				}
			}
			e.commit(batch)
		case <-ctx.Done():
			e.closeOps()
			return
		}
	}
}

// closeOps stops new writes and answers the ones still queued.
func (e *Engine) closeOps() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	for {
		select {
		case o := <-e.ops:
			e.commit([]*op{o})
		default:
			return
		}
	}
}

func (e *Engine) commit(batch []*op) {
	for len(batch) > 0 {
		if err := e.failedErr(); err != nil {
			for _, o := range batch {
				o.done <- err
			}
			return
		}
		start := time.Now()
		fn := func(tx *bolt.Tx) error {
			e.setFill(tx)
			for i, o := range batch {
				if err := o.fn(tx); err != nil {
					return &opError{idx: i, err: err}
				}
			}
			return nil
		}
		var p pending
		var err error
		if e.pipe != nil {
			p, err = e.updateLogged(fn)
		} else {
			err = e.Update(fn)
		}
		var oe *opError
		if errors.As(err, &oe) {
			// Only this op is at fault: answer it and retry the rest.
			batch[oe.idx].done <- oe.err
			batch = append(batch[:oe.idx], batch[oe.idx+1:]...)
			continue
		}
		if err == nil && e.pipe != nil {
			// The log's fsync runs on syncLoop while this loop starts the
			// next transaction; the writes are answered there.
			answerCommitted(batch)
			p.ops, p.start = slices.Clone(batch), start
			e.pipe <- p
			return
		}
		took := time.Since(start)
		e.stats.observe(len(batch), took)
		var we *walError
		if isFull(err) && !errors.As(err, &we) {
			// Nothing was written: refuse this batch, keep serving.
			err = fmt.Errorf("%w (%v)", ErrFull, err)
		} else if err != nil {
			// A failed commit may still reach the disk later (bbolt writes
			// the meta page before its fsync), so no later write may be
			// acknowledged on top of an unknown state.
			e.fail(err)
			err = fmt.Errorf("%w: %w", ErrFailed, err)
		}
		if e.onCommit != nil {
			e.onCommit(len(batch), took, err)
		}
		for _, o := range batch {
			o.done <- err
		}
		return
	}
}

// pending is a commit whose log record is written but not yet fsynced.
type pending struct {
	ops   []*op
	f     *os.File // to fsync; nil when the commit is durable already
	txid  uint64
	start time.Time
	// pin is a read transaction at this commit, held until its record is
	// durable. The commit loop starts the next transaction during the
	// fsync, and bbolt would hand it the pages this commit freed at once:
	// pages the last durable state still uses. Written into the file
	// without a log record behind them (the record of this commit may
	// still be lost), they would damage the state recovery goes back to.
	// bbolt keeps every page freed by a transaction at or after the
	// oldest open reader's, so the pin holds them until the fsync is done.
	pin *bolt.Tx
}

// release ends the pin: the pages it held may be reused once this commit
// is durable (or the engine failed and nothing more is written).
func (p pending) release() {
	if p.pin != nil {
		_ = p.pin.Rollback()
	}
}

// syncLoop fsyncs the log for each commit the loop hands over, in order,
// and answers its writes. The pipe is unbuffered: the loop prepares at
// most one commit while the previous one's fsync runs.
func (e *Engine) syncLoop(done chan<- struct{}) {
	defer close(done)
	for p := range e.pipe {
		err := e.failedErr()
		if e.beforeLogSync != nil {
			e.beforeLogSync()
		}
		if err == nil {
			if werr := e.wal.complete(p.f, p.txid); werr != nil {
				e.fail(werr)
				err = fmt.Errorf("%w: %w", ErrFailed, werr)
			}
		}
		p.release()
		took := time.Since(p.start)
		e.stats.observe(len(p.ops), took)
		if e.onCommit != nil {
			e.onCommit(len(p.ops), took, err)
		}
		for _, o := range p.ops {
			if !o.committed { // answered at its commit (WriteCommitted)
				o.done <- err
			}
		}
	}
}

// updateLogged commits fn and writes it to the log without the fsync,
// which syncLoop does.
func (e *Engine) updateLogged(fn func(tx *bolt.Tx) error) (pending, error) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	if err := e.failedErr(); err != nil {
		return pending{}, err
	}
	if err := e.bolt.Update(fn); err != nil {
		return pending{}, err
	}
	f, txid, err := e.wal.prepareCommit()
	if err != nil {
		e.fail(err)
		return pending{}, &walError{err}
	}
	p := pending{f: f, txid: txid}
	if f != nil {
		// Taken before wmu is released, so it reads exactly this commit.
		if p.pin, err = e.bolt.Begin(false); err != nil {
			e.fail(err)
			return pending{}, &walError{fmt.Errorf("wal: pin transaction %d until its fsync: %w", txid, err)}
		}
	}
	return p, nil
}

// walError marks a failure of the log write after bbolt committed: the
// commit is in the file but not durable, so it is never "full, nothing
// written" even when the disk ran out of space.
type walError struct{ err error }

func (e *walError) Error() string { return e.err.Error() }
func (e *walError) Unwrap() error { return e.err }

// Update commits fn at once, outside the group commit, and, with the log
// on, makes it durable. For bulk writes that are their own batch (an
// import); every write transaction of an engine with a log goes through
// here or through Write.
func (e *Engine) Update(fn func(tx *bolt.Tx) error) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	// After a failed log write the file is one commit ahead of the log:
	// nothing may commit on top of it.
	if err := e.failedErr(); err != nil {
		return err
	}
	if err := e.bolt.Update(fn); err != nil {
		return err
	}
	if e.wal == nil {
		return nil
	}
	if err := e.wal.logCommit(); err != nil {
		e.fail(err)
		return &walError{err}
	}
	return nil
}

// View runs a read transaction and, with the log on, returns only once
// what it read is durable (see wal.waitDurable).
func (e *Engine) View(fn func(tx *bolt.Tx) error) error {
	var id int
	err := e.bolt.View(func(tx *bolt.Tx) error {
		id = tx.ID()
		return fn(tx)
	})
	if err != nil || e.wal == nil {
		return err
	}
	return e.wal.waitDurable(uint64(id))
}

// Write submits fn to the group commit and waits for its outcome, at most
// until ctx ends. fn may run more than once (when another write of its
// batch fails, the batch is retried without it), so it must only write into
// the transaction and into its own result fields.
func (e *Engine) Write(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	return e.submit(ctx, &op{fn: fn, done: make(chan error, 1)})
}

// submit queues o for the group commit and waits for its answer.
func (e *Engine) submit(ctx context.Context, o *op) error {
	e.mu.RLock()
	closed := e.closed
	e.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if err := e.failedErr(); err != nil {
		return err
	}
	// The commit loop may stop between the check above and the send; an op
	// it never took is answered ErrClosed instead of waiting forever.
	select {
	case e.ops <- o:
	case <-ctx.Done():
		return ErrCommitTimeout
	case <-e.stopped:
		return ErrClosed
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return ErrCommitTimeout
	case <-e.stopped:
		// Run answers every op it took before it stops.
		select {
		case err := <-o.done:
			return err
		default:
			return ErrClosed
		}
	}
}

// WaitDurable returns once transaction txid is durable: at once without the
// log, else when its log record is fsynced. A reader that managed its own
// transaction on Bolt calls it before answering from what it saw.
func (e *Engine) WaitDurable(txid uint64) error {
	if e.wal == nil {
		return nil
	}
	return e.wal.waitDurable(txid)
}
