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
)

// Options configure a Store.
type Options struct {
	// SiteID makes this edge's ticket and queue IDs unique (1..9999).
	SiteID int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OpenTimeout bounds the wait for the file lock held by another process.
	OpenTimeout time.Duration

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

	ops     chan *op
	stopped chan struct{}
	stats   commitStats

	defaultFill bool // see Options

	running atomic.Bool

	mu     sync.RWMutex
	closed bool
	failed error
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
	b, err := bolt.Open(path, 0o600, boltOptions(o))
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: locked by another process (is enneo-edge already running?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w (run `enneo-edge check` on it; restore from a backup if it is damaged)", path, err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &Store{
		bolt:    b,
		path:    path,
		site:    int64(o.SiteID),
		now:     o.Now,
		ops:     make(chan *op, 4*maxBatch),
		stopped: make(chan struct{}),

		defaultFill: o.defaultFill,
	}, nil
}

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
	if err := s.bolt.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.path, err)
	}
	return nil
}

func (s *Store) fail(err error) {
	s.mu.Lock()
	if s.failed == nil {
		s.failed = err
	}
	s.mu.Unlock()
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
	return s.bolt.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// APIToken returns the token generated at first start, or "" when none
// was stored.
func (s *Store) APIToken() (string, error) {
	var tok string
	err := s.bolt.View(func(tx *bolt.Tx) error {
		tok = string(tx.Bucket(bucketMeta).Get(metaAPIToken))
		return nil
	})
	return tok, err
}

// SetAPIToken stores the generated API token durably.
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
