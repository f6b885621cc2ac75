// Package engine is the storage engine under the edge's schema: one bbolt
// file, the group commit that batches writes into shared transactions, the
// write-ahead log that makes a commit durable with one sequential append
// and one fdatasync, recovery after a crash, and backup streaming. It knows
// nothing of calls, tickets or buckets: what the schema needs at open
// (bucket creation, version checks) and per write transaction (fill
// percent of append-only buckets) it passes in through Options.
//
// It is the only package that knows bbolt's on-disk layout (walpage.go).
package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// BucketFill is how full bbolt fills a page when it splits one in the named
// bucket. bbolt does not store it, so the engine sets it in every write
// transaction of the group commit.
type BucketFill struct {
	Name    []byte
	Percent float64
}

// Options configure an Engine.
type Options struct {
	// OpenTimeout bounds the wait for the file lock held by another
	// process; 0 means one second.
	OpenTimeout time.Duration
	// MaxSize caps the file's size in bytes (0: no cap). A write that would
	// grow the file past it fails with ErrFull and harms nothing stored.
	MaxSize int64
	// ReadOnly opens the file without ever writing to it; the engine then
	// refuses writes, and refuses to open a file whose log is not replayed.
	ReadOnly bool
	// Recovered says the caller has just run RecoverWAL (serve does, to
	// check the recovered file before it opens it): Open then replays
	// nothing itself, and once it holds the file's lock it refuses a log
	// that is pending again (another process wrote it in between) rather
	// than start a new log over acknowledged commits.
	Recovered bool
	// OpenFile opens the database file; nil means os.OpenFile. Tests use it
	// to make the disk fail under a running engine.
	OpenFile func(name string, flag int, perm os.FileMode) (*os.File, error)
	// DisableWAL makes every commit fsync the database file itself (two
	// fdatasyncs of scattered pages) instead of appending to the
	// write-ahead log (wal.go).
	DisableWAL bool
	// LogFileSize is where a log file is rotated; 0 means walFileSize.
	// Only tests set it (small logs rotate often).
	LogFileSize int64
	// NoFreelistSync restores bbolt's default of not storing the freelist
	// (tuning.go); the log needs the freelist, so only with DisableWAL. For
	// the benchmark that measures the choice.
	NoFreelistSync bool
	// NoDurability fsyncs nothing, ever: no log, and bbolt commits without
	// fsync. A crash or power loss can lose or damage anything. Only for
	// bench/profile -floor, which measures what the schema and bbolt cost
	// with durability free, the floor under every log design.
	NoDurability bool

	// Prepare runs once the file is open and before the log starts, with
	// bbolt still fsyncing every commit itself: the schema checks the file
	// and creates its buckets here. An error closes the file.
	Prepare func(b *bolt.DB) error
	// Fill is set on these buckets in every group-commit transaction.
	Fill []BucketFill

	// OnCommit, when set, is told about every commit: how many writes it
	// carried, how long it took, and nil, ErrFull or ErrFailed. It runs on
	// the commit loop, so it must be quick (metrics only).
	OnCommit func(writes int, took time.Duration, err error)
	// OnLogSync is told how long each fdatasync of a log record took (not
	// those of a rotation), OnCheckpoint each background fsync of the
	// database file that lets the log start over (both for /metrics).
	OnLogSync, OnCheckpoint func(took time.Duration)

	hooks testHooks
}

// testHooks let this package's tests stop the engine at named points; they
// cannot be set from outside.
type testHooks struct {
	logRotated    func() // on the commit loop after every log rotation
	beforeLogSync func() // on syncLoop before each log fsync
	logMaxPages   int    // commits larger are fsynced in place (0: walMaxPages)
}

// Engine is one open database file. Writes go through the group-commit loop
// started by Run; reads use their own read-only transactions.
type Engine struct {
	bolt *bolt.DB
	path string

	ops     chan *op
	stopped chan struct{}
	stats   commitStats

	backingUp atomic.Bool // one backup at a time (backup.go)
	running   atomic.Bool
	onCommit  func(writes int, took time.Duration, err error)
	fill      []BucketFill

	// wal is nil when the log is disabled or the engine is read-only. wmu
	// keeps a commit and its log write together.
	wal  *wal
	wmu  sync.Mutex
	pipe chan pending // commits waiting for the log's fsync (Run)

	beforeLogSync func() // see testHooks
	logErr        error  // why the log is off although it was asked for

	mu     sync.RWMutex
	closed bool
	failed error
	fatal  chan struct{} // closed when failed is set
}

// Open replays the log next to path if there is one (not read-only, not
// Recovered), opens or creates the file, runs o.Prepare and starts the log.
// Call Run to start accepting writes and Close to stop.
func Open(path string, o Options) (*Engine, error) {
	if o.OpenTimeout == 0 {
		o.OpenTimeout = time.Second
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := checkFileFormat(path); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if !o.ReadOnly && !o.Recovered {
		if _, err := RecoverWAL(path); err != nil {
			return nil, err
		}
	}
	b, err := openBolt(path, boltOptions(o))
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: locked by another process (is enneo-edge already running?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w (run `enneo-edge check %s`; restore from a backup if it is damaged)", path, err, path)
	}
	if o.Recovered && !o.ReadOnly {
		// Checked before Prepare writes anything.
		_, pending, err := findLog(walPaths(path), b.Info().PageSize)
		if err == nil && pending {
			err = errors.New("its write-ahead log was written again after it was replayed (by another process?); start again to replay it")
		}
		if err != nil {
			_ = b.Close()
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
	}
	if o.Prepare != nil {
		err = o.Prepare(b)
	}
	if err == nil && o.ReadOnly {
		if _, pending, _ := findLog(walPaths(path), b.Info().PageSize); pending {
			// After a power loss the file alone is not the acknowledged
			// state; read it only once the log is replayed.
			err = errors.New("its write-ahead log has not been replayed yet: run `enneo-edge check` (which replays it) or start the server")
		}
	}
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	var (
		w      *wal
		logErr error
	)
	if !o.ReadOnly && !o.DisableWAL && !o.NoDurability {
		size := o.LogFileSize
		if size == 0 {
			size = walFileSize
		}
		var nospace *noLogSpaceError
		w, err = openWAL(path, b, size)
		switch {
		case errors.As(err, &nospace):
			// Commits stay durable through bbolt's own fsyncs.
			logErr, w = err, nil
		case err != nil:
			_ = b.Close()
			return nil, fmt.Errorf("open %s: %w", path, err)
		default:
			w.rotated = o.hooks.logRotated
			if o.hooks.logMaxPages > 0 {
				w.maxPages = o.hooks.logMaxPages
			}
			w.onSync, w.onCheckpoint = o.OnLogSync, o.OnCheckpoint
			// Durability now comes from the log; bbolt only writes pages. A
			// grown file's size needs no fsync either: replay writes every
			// page past the last checkpoint, extending the file as it goes.
			b.NoSync, b.NoGrowSync = true, true
		}
	}
	if o.NoDurability && !o.ReadOnly {
		b.NoSync, b.NoGrowSync = true, true
	}
	return &Engine{
		wal:      w,
		logErr:   logErr,
		bolt:     b,
		path:     path,
		ops:      make(chan *op, 4*maxBatch),
		stopped:  make(chan struct{}),
		fatal:    make(chan struct{}),
		onCommit: o.OnCommit,
		fill:     o.Fill,

		beforeLogSync: o.hooks.beforeLogSync,
	}, nil
}

// checkFileFormat runs checkFormat on the file at path if it can be read
// (a missing or unreadable file is bbolt's to create or to report).
func checkFileFormat(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	return checkFormat(f)
}

// LogStats is what the write-ahead log has done since the engine opened.
type LogStats struct {
	Enabled bool
	// Bytes appended to the log: the pages and meta page of every logged
	// commit without their zero tails (about 42 % of what the commits
	// wrote to the file, measured at 1,000 calls/s).
	Bytes int64
	// LargeCommits were fsynced in place instead (more than walMaxPages).
	LargeCommits int64
}

// LogStats reports the log's activity (zero and not Enabled without it).
func (e *Engine) LogStats() LogStats {
	if e.wal == nil {
		return LogStats{}
	}
	return LogStats{Enabled: true, Bytes: e.wal.bytes.Load(), LargeCommits: e.wal.inPlace.Load()}
}

// LogUnavailable says why the write-ahead log is off although it was asked
// for (its files could not be reserved), or nil.
func (e *Engine) LogUnavailable() error { return e.logErr }

// Path is the database file's path.
func (e *Engine) Path() string { return e.path }

// Bolt is the open file, for reads that manage their own transaction (and
// then call WaitDurable) and for tests. Writes must go through Write or
// Update: a commit made around them is never logged.
func (e *Engine) Bolt() *bolt.DB { return e.bolt }

// Close waits for Run to return (its context must be cancelled first, or
// Run never started) and closes the file.
func (e *Engine) Close() error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	// Whoever flips running first wins: a Run that started is waited for,
	// a Run that comes after Close returns at once.
	if e.running.Swap(true) {
		<-e.stopped
	}
	var werr error
	if e.wal != nil {
		e.wmu.Lock()
		werr = e.wal.close()
		e.wmu.Unlock()
	}
	if err := e.bolt.Close(); err != nil {
		return fmt.Errorf("close %s: %w", e.path, err)
	}
	if werr != nil {
		return fmt.Errorf("close %s: %w", e.path, werr)
	}
	return nil
}

func (e *Engine) fail(err error) {
	e.mu.Lock()
	if e.failed == nil {
		e.failed = err
		close(e.fatal)
	}
	e.mu.Unlock()
	if e.wal != nil {
		e.wal.fail()
	}
}

// Failed returns the commit error that made the engine stop accepting
// writes, or nil.
func (e *Engine) Failed() error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.failed
}

// Fatal is closed when a commit failed with an error that leaves the
// on-disk state unknown. Every later write answers ErrFailed; the process
// should answer what is in flight and exit so it restarts from the file.
func (e *Engine) Fatal() <-chan struct{} { return e.fatal }

func (e *Engine) failedErr() error {
	if err := e.Failed(); err != nil {
		return errors.Join(ErrFailed, err)
	}
	return nil
}

// Check verifies the file's structure (bbolt's consistency check) and
// returns every problem found.
func (e *Engine) Check() error {
	return e.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// commitStats counts commits and the writes they carried, for the
// benchmarks and metrics.
type commitStats struct {
	mu      sync.Mutex
	commits int64
	writes  int64
	busy    time.Duration
}

func (c *commitStats) observe(n int, d time.Duration) {
	c.mu.Lock()
	c.commits++
	c.writes += int64(n)
	c.busy += d
	c.mu.Unlock()
}

// CommitStats reports how many commits ran and how many writes they
// carried: writes/commits is the group-commit batch size.
func (e *Engine) CommitStats() (commits, writes int64) {
	e.stats.mu.Lock()
	defer e.stats.mu.Unlock()
	return e.stats.commits, e.stats.writes
}

// LogPaths are the two write-ahead log files next to the database at
// dbPath (for status pages that report their size).
func LogPaths(dbPath string) [2]string { return walPaths(dbPath) }
