// Package db keeps the edge's state in one bbolt file: tickets and their
// channelId index, queue entries, presence, the customer directory and the
// outbox for central enneo. Every use case is one transaction, and every
// write is durable (fsynced) before its method returns.
package db

import (
	"context"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/callflow"
	"github.com/enneo-edge/enneo-edge/clock"
	"github.com/enneo-edge/enneo-edge/db/engine"
	"github.com/enneo-edge/enneo-edge/routing"
)

// Options configure a Store.
type Options struct {
	// SiteID makes this edge's ticket and queue IDs unique (1..9999).
	SiteID int
	// Clock is the store's time (stamps, timers, retention cut-offs); nil
	// means clock.Real.
	Clock clock.Clock
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
	// Recovered: the caller has just run RecoverWAL, so Open does not
	// replay again (engine.Options.Recovered).
	Recovered bool
	// OpenFile opens the database file; nil means os.OpenFile. Tests use it
	// to make the disk fail under a running store.
	OpenFile func(name string, flag int, perm os.FileMode) (*os.File, error)
	// DisableWAL makes every commit fsync the database file itself (two
	// fdatasyncs of scattered pages) instead of appending to the
	// write-ahead log (engine/wal.go). For comparison and for file systems
	// where the log does not pay.
	DisableWAL bool
	// NoDurability fsyncs nothing (engine.Options.NoDurability): for the
	// benchmark floor only, never for a store that answers a PBX.
	NoDurability bool
}

// Store is the edge's database: the schema (buckets, keys, typed
// accessors) on top of the storage engine (package engine), which owns the
// file, the group commit and the log. Its call-flow methods open one
// transaction each and hand it to package callflow, which decides.
type Store struct {
	eng  *engine.Engine
	path string
	// site is Options.SiteID (the flow holds it too; ApplySettings
	// reports it).
	site int
	// max is Options.MaxSize (0: no cap), for RoomFor.
	max int64
	// clock is the one time source of every use case (now below).
	clock clock.Clock
	// flow applies the call domain's use cases inside the store's
	// transactions (package callflow).
	flow *callflow.Machine
	// recent spares a new call the channelId pre-check (recent.go).
	recent *recentChannels

	// repl, when set, replicates every write (command.go); nil on a
	// single appliance.
	repl Replicator
	// inTx is set only on the copy of the store Apply replays a command
	// on: its reads and writes go into Apply's transaction.
	inTx *bolt.Tx
	// A new field must be added to replay (apply.go) too.
}

// Open opens or creates the database at path and its buckets. Call Run to
// start accepting writes and Close to stop.
func Open(path string, o Options) (*Store, error) {
	return open(path, o, nil)
}

// open is Open with a last say over the engine's options (tests shrink the
// log or restore bbolt's defaults through tune).
func open(path string, o Options, tune func(*engine.Options)) (*Store, error) {
	if o.SiteID < 1 || o.SiteID > 9999 {
		return nil, fmt.Errorf("open %s: site id %d out of range 1..9999", path, o.SiteID)
	}
	eo := engine.Options{
		OpenTimeout:  o.OpenTimeout,
		MaxSize:      o.MaxSize,
		ReadOnly:     o.ReadOnly,
		Recovered:    o.Recovered,
		OpenFile:     o.OpenFile,
		DisableWAL:   o.DisableWAL,
		NoDurability: o.NoDurability,
		OnCommit:     o.OnCommit,
		OnLogSync:    o.OnLogSync,
		OnCheckpoint: o.OnCheckpoint,
		Prepare:      func(b *bolt.DB) error { return prepare(b, path, o.ReadOnly) },
		Fill:         appendOnlyFill,
	}
	if tune != nil {
		tune(&eo)
	}
	eng, err := engine.Open(path, eo)
	if err != nil {
		return nil, err
	}
	return &Store{
		eng:   eng,
		path:  path,
		site:  o.SiteID,
		max:   o.MaxSize,
		clock: clock.Or(o.Clock),
		flow:  callflow.New(callflow.Options{SiteID: int64(o.SiteID), Routing: o.Routing}),

		recent: newRecentChannels(),
	}, nil
}

// now is the store's time, read once per use case.
func (s *Store) now() time.Time { return s.clock.Now() }

// prepare readies a freshly opened file for this binary, before anything
// is written through the log: refuse a newer file and back up an older one
// (schema.go), then create the buckets and counts; read-only, only make
// sure it is an enneo-edge database.
func prepare(b *bolt.DB, path string, readOnly bool) error {
	writeVersion, err := checkSchema(b, path, readOnly)
	if err != nil {
		return err
	}
	if readOnly {
		return b.View(hasBuckets)
	}
	return b.Update(func(tx *bolt.Tx) error {
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
		if err := deriveIndexes(tx); err != nil {
			return err
		}
		return startCounts(tx)
	})
}

// RecoverWAL replays the write-ahead log next to the database at path, if
// there is one, and then empties it; it returns how many commits it
// replayed (engine.RecoverWAL). Open runs it unless Options.Recovered;
// serve and check run it first so that their checks see the recovered
// file (serve then opens with Recovered, so it replays once).
func RecoverWAL(path string) (int, error) { return engine.RecoverWAL(path) }

// LogStats is what the write-ahead log has done since the store opened.
type LogStats = engine.LogStats

// Backup is a consistent copy of the whole file (engine.Backup).
type Backup = engine.Backup

// Run is the group-commit loop (engine.Engine.Run); it returns when ctx
// ends, after answering every write already queued.
func (s *Store) Run(ctx context.Context) { s.eng.Run(ctx) }

// Close waits for Run to return (its context must be cancelled first, or
// Run never started) and closes the file.
func (s *Store) Close() error { return s.eng.Close() }

// LogStats reports the log's activity (zero and not Enabled without it).
func (s *Store) LogStats() LogStats { return s.eng.LogStats() }

// LogUnavailable says why the write-ahead log is off although it was asked
// for (its files could not be reserved), or nil.
func (s *Store) LogUnavailable() error { return s.eng.LogUnavailable() }

// Path is the database file's path.
func (s *Store) Path() string { return s.path }

// Failed returns the commit error that made the store stop accepting
// writes, or nil.
func (s *Store) Failed() error { return s.eng.Failed() }

// Fatal is closed when a commit failed with an error that leaves the
// on-disk state unknown. Every later write answers ErrFailed; the process
// should answer what is in flight and exit so it restarts from the file.
func (s *Store) Fatal() <-chan struct{} { return s.eng.Fatal() }

// CommitStats reports how many commits ran and how many writes they
// carried: writes/commits is the group-commit batch size.
func (s *Store) CommitStats() (commits, writes int64) { return s.eng.CommitStats() }

// BeginBackup copies the current committed state (engine.BeginBackup).
// Every write acknowledged before it returns is in the backup; one backup
// at a time (ErrBackupBusy).
func (s *Store) BeginBackup() (*Backup, error) { return s.eng.BeginBackup() }

// Check verifies the file's structure (bbolt's consistency check) and
// returns every problem found.
func (s *Store) Check() error { return s.eng.Check() }

// view, write and update are the engine's read, group-commit write and
// direct write, named as the schema's files have always called them.
// On the copy Apply replays a command on, all three run in Apply's
// transaction (command.go).
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	if s.inTx != nil {
		return fn(s.inTx)
	}
	return s.eng.View(fn)
}

func (s *Store) write(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if s.inTx != nil {
		return fn(s.inTx)
	}
	return s.eng.Write(ctx, fn)
}

func (s *Store) update(fn func(tx *bolt.Tx) error) error {
	if s.inTx != nil {
		return fn(s.inTx)
	}
	return s.eng.Update(fn)
}

// Ready proves the database is open and writable by committing a small
// write through the group commit.
func (s *Store) Ready(ctx context.Context) error {
	now := s.now().UTC().Format(time.RFC3339Nano)
	return s.write(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaReadyProbe, []byte(now))
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
	if s.repl != nil {
		return s.submit(ctx, opSetAPIToken, tok, nil)
	}
	return s.write(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaAPIToken, []byte(tok))
	})
}
