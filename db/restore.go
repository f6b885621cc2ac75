package db

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Restore replaces everything the store holds by the database file read
// from r (a backup: a cluster snapshot, which is BeginBackup's copy). The
// copy is written to a temporary file next to the database, then every
// bucket of the live file is replaced by the copy's, with its sequence, in
// one transaction through the engine (and its log): a crash in between
// leaves the old state or the new one, never a mix, and the file stays
// open, so nothing that holds the store has to reopen it. The whole state
// passes through one transaction, so it costs memory in proportion to the
// file: snapshots are only installed on a member that fell too far behind.
//
// A copy of a schema version newer than this binary's (a snapshot sent by
// a member already upgraded, during a rolling upgrade) is refused before
// anything is replaced: this binary would misread its buckets, exactly as
// Open refuses such a file (schema.go). The error wraps
// ErrSnapshotSchemaNewer and names both versions; the live file is left as
// it was. A copy of an older version is upgraded in the same transaction,
// as Open upgrades a file (prepareRestored).
func (s *Store) Restore(r io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".restore-*")
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("restore: receive the copy: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	src, err := bolt.Open(tmp.Name(), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("restore: open the copy: %w", err)
	}
	defer src.Close()
	return src.View(func(from *bolt.Tx) error {
		if from.Bucket(bucketMeta) == nil {
			return fmt.Errorf("restore: the copy is not an enneo-edge database (no meta bucket)")
		}
		version, _, err := readSchema(from)
		if err != nil {
			return fmt.Errorf("restore: the copy's %w", err)
		}
		if version > SchemaVersion {
			return fmt.Errorf("restore: the copy has schema version %d, this enneo-edge knows up to %d "+
				"(upgrade this member to the release that wrote it): %w", version, SchemaVersion, ErrSnapshotSchemaNewer)
		}
		return s.update(func(to *bolt.Tx) error {
			var old [][]byte
			if err := to.ForEach(func(name []byte, _ *bolt.Bucket) error {
				old = append(old, bytes.Clone(name))
				return nil
			}); err != nil {
				return err
			}
			for _, name := range old {
				if err := to.DeleteBucket(name); err != nil {
					return fmt.Errorf("restore: drop bucket %s: %w", name, err)
				}
			}
			if err := from.ForEach(func(name []byte, b *bolt.Bucket) error {
				nb, err := to.CreateBucket(name)
				if err != nil {
					return fmt.Errorf("restore: create bucket %s: %w", name, err)
				}
				return copyBucket(nb, b)
			}); err != nil {
				return err
			}
			if err := prepareRestored(to, version); err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			return nil
		})
	})
}

// prepareRestored does to the copied state, in the restore's transaction,
// what Open does to a file (db.go prepare): the buckets this binary has
// and the copy may lack, the schema version when the copy's is older, and
// the derived indexes and counts computed again. A member restarting on a
// newer release restores its own older snapshot this way, and the state
// it then holds is the same as after opening that older file.
func prepareRestored(tx *bolt.Tx, version int) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	if version < SchemaVersion {
		if err := writeSchema(tx); err != nil {
			return err
		}
	}
	if err := deriveIndexes(tx); err != nil {
		return err
	}
	return startCounts(tx)
}

// ErrSnapshotSchemaNewer is a copy given to Restore whose schema version
// is newer than this binary's SchemaVersion.
var ErrSnapshotSchemaNewer = errors.New("snapshot schema is newer than this binary's")

// copyBucket copies every key, nested bucket and the sequence of from.
func copyBucket(to, from *bolt.Bucket) error {
	if err := to.SetSequence(from.Sequence()); err != nil {
		return err
	}
	to.FillPercent = 1.0 // written in key order
	return from.ForEach(func(k, v []byte) error {
		if v != nil {
			return to.Put(bytes.Clone(k), bytes.Clone(v))
		}
		nb, err := to.CreateBucket(bytes.Clone(k))
		if err != nil {
			return err
		}
		return copyBucket(nb, from.Bucket(k))
	})
}
