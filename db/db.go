// Package db keeps the edge's state in one bbolt file: tickets and their
// channelId index, queue entries, presence, the customer directory and the
// outbox for central enneo. Every use case is one transaction, and every
// write is durable (fsynced) before its method returns.
package db

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/enneo-edge/enneo-edge/routing"
)

// Options configure a Store.
type Options struct {
	// SiteID makes this edge's ticket and queue IDs unique (1..9999).
	SiteID int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OpenTimeout bounds the wait for the file lock held by another process.
	OpenTimeout time.Duration
	// Routing holds the distributor's timers and line tags; zero fields
	// take routing.DefaultConfig's values.
	Routing routing.Config
	// MaxSize caps the file's size in bytes (0: no cap). A write that would
	// grow the file past it fails with ErrFull and harms nothing stored.
	MaxSize int64
	// OnCommit, when set, is told about every commit: how many writes it
	// carried, how long it took, and nil, ErrFull or ErrFailed. It runs on
	// the commit loop, so it must be quick (metrics only).
	OnCommit func(writes int, took time.Duration, err error)
	// OnLogSync is told how long each fdatasync of a log record took (not
	// those of a rotation), OnCheckpoint each background fsync of the database file that
	// lets the log start over (both for /metrics).
	OnLogSync, OnCheckpoint func(took time.Duration)
	// ReadOnly opens the file without ever writing to it (check, backup
	// verification); the store then refuses writes.
	ReadOnly bool
	// OpenFile opens the database file; nil means os.OpenFile. Tests use it
	// to make the disk fail under a running store.
	OpenFile func(name string, flag int, perm os.FileMode) (*os.File, error)
	// DisableWAL makes every commit fsync the database file itself (two
	// fdatasyncs of scattered pages) instead of appending to the
	// write-ahead log (wal.go). For comparison and for file systems where
	// the log does not pay.
	DisableWAL bool
	// walSize overrides walFileSize (tests rotate small logs); walRotated
	// is called on the commit loop after every rotation.
	walSize    int64
	walRotated func()
	// beforeLogSync runs on syncLoop before each log fsync (tests).
	beforeLogSync func()
	// beforeCountFix runs in EstablishCounts between its walk and the
	// commit that fixes the count (tests).
	beforeCountFix func()

	// noFreelistSync and defaultFill restore bbolt's defaults, for the
	// benchmark that measures what tuning.go chose.
	noFreelistSync, defaultFill bool
}

// Store is the edge's database. Writes go through the group-commit loop
// started by Run; reads use their own read-only transactions.
type Store struct {
	bolt *bolt.DB
	path string
	site int64
	now  func() time.Time

	routing routing.Config

	ops     chan *op
	stopped chan struct{}
	stats   commitStats

	backingUp   atomic.Bool // one backup at a time (backup.go)
	running     atomic.Bool
	onCommit    func(writes int, took time.Duration, err error)
	defaultFill bool // see Options

	// wal is nil when the log is disabled or the store is read-only. wmu
	// keeps a commit and its log write together.
	wal  *wal
	wmu  sync.Mutex
	pipe chan pending // commits waiting for the log's fsync (Run)

	beforeLogSync  func() // see Options
	beforeCountFix func() // see Options
	logErr         error  // why the log is off although it was asked for

	mu     sync.RWMutex
	closed bool
	failed error
	fatal  chan struct{} // closed when failed is set
}

// Open opens or creates the database at path and its buckets. Call Run to
// start accepting writes and Close to stop.
func Open(path string, o Options) (*Store, error) {
	if o.SiteID < 1 || o.SiteID > 9999 {
		return nil, fmt.Errorf("open %s: site id %d out of range 1..9999", path, o.SiteID)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OpenTimeout == 0 {
		o.OpenTimeout = time.Second
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if !o.ReadOnly {
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
	// Before anything is written for this binary: refuse a newer file,
	// back up an older one (schema.go).
	writeVersion, err := checkSchema(b, path, o.ReadOnly)
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if o.ReadOnly {
		err = b.View(hasBuckets)
		if _, pending, _ := findLog(walPaths(path), b.Info().PageSize); err == nil && pending {
			// After a power loss the file alone is not the acknowledged
			// state; read it only once the log is replayed.
			err = errors.New("its write-ahead log has not been replayed yet: run `enneo-edge check` (which replays it) or start the server")
		}
	} else {
		err = b.Update(func(tx *bolt.Tx) error {
			for _, name := range allBuckets {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return fmt.Errorf("create bucket %s: %w", name, err)
				}
			}
			if writeVersion {
				if err := writeSchema(tx); err != nil {
					return err
				}
			}
			return startCounts(tx)
		})
	}
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	var (
		w      *wal
		logErr error
	)
	if !o.ReadOnly && !o.DisableWAL {
		size := o.walSize
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
			w.rotated = o.walRotated
			w.onSync, w.onCheckpoint = o.OnLogSync, o.OnCheckpoint
			// Durability now comes from the log; bbolt only writes pages. A
			// grown file's size needs no fsync either: replay writes every
			// page past the last checkpoint, extending the file as it goes.
			b.NoSync, b.NoGrowSync = true, true
		}
	}
	return &Store{
		wal:      w,
		logErr:   logErr,
		bolt:     b,
		path:     path,
		site:     int64(o.SiteID),
		now:      o.Now,
		routing:  routingDefaults(o.Routing),
		ops:      make(chan *op, 4*maxBatch),
		stopped:  make(chan struct{}),
		fatal:    make(chan struct{}),
		onCommit: o.OnCommit,

		defaultFill:    o.defaultFill,
		beforeLogSync:  o.beforeLogSync,
		beforeCountFix: o.beforeCountFix,
	}, nil
}

// LogStats is what the write-ahead log has done since the store opened.
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
func (s *Store) LogStats() LogStats {
	if s.wal == nil {
		return LogStats{}
	}
	return LogStats{Enabled: true, Bytes: s.wal.bytes.Load(), LargeCommits: s.wal.inPlace.Load()}
}

// LogUnavailable says why the write-ahead log is off although it was asked
// for (its files could not be reserved), or nil.
func (s *Store) LogUnavailable() error { return s.logErr }

// Path is the database file's path.
func (s *Store) Path() string { return s.path }

// Close waits for Run to return (its context must be cancelled first, or
// Run never started) and closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	// Whoever flips running first wins: a Run that started is waited for,
	// a Run that comes after Close returns at once.
	if s.running.Swap(true) {
		<-s.stopped
	}
	var werr error
	if s.wal != nil {
		s.wmu.Lock()
		werr = s.wal.close()
		s.wmu.Unlock()
	}
	if err := s.bolt.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.path, err)
	}
	if werr != nil {
		return fmt.Errorf("close %s: %w", s.path, werr)
	}
	return nil
}

func (s *Store) fail(err error) {
	s.mu.Lock()
	if s.failed == nil {
		s.failed = err
		close(s.fatal)
	}
	s.mu.Unlock()
	if s.wal != nil {
		s.wal.fail()
	}
}

// Failed returns the commit error that made the store stop accepting
// writes, or nil.
func (s *Store) Failed() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.failed
}

func (s *Store) failedErr() error {
	if err := s.Failed(); err != nil {
		return errors.Join(ErrFailed, err)
	}
	return nil
}

// Ready proves the database is open and writable by committing a small
// write through the group commit.
func (s *Store) Ready(ctx context.Context) error {
	now := s.now().UTC().Format(time.RFC3339Nano)
	return s.write(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaReadyProbe, []byte(now))
	})
}

// Check verifies the file's structure (bbolt's consistency check) and
// returns every problem found.
func (s *Store) Check() error {
	return s.view(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// APIToken returns what was stored about the tokens generated at first
// start (their digests; a token in clear in files from before), or ""
// when nothing was stored.
func (s *Store) APIToken() (string, error) {
	var tok string
	err := s.view(func(tx *bolt.Tx) error {
		tok = string(tx.Bucket(bucketMeta).Get(metaAPIToken))
		return nil
	})
	return tok, err
}

// SetAPIToken durably stores what is kept about the generated tokens.
func (s *Store) SetAPIToken(ctx context.Context, tok string) error {
	return s.write(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaAPIToken, []byte(tok))
	})
}

// commitStats counts commits and the writes they carried, for the
// benchmarks and (later) metrics.
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
func (s *Store) CommitStats() (commits, writes int64) {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	return s.stats.commits, s.stats.writes
}
