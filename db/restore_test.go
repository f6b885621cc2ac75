package db

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// snapshotOf returns a consistent copy of s's file (what a cluster
// snapshot carries), its schema version key set to version when version
// is not negative.
func snapshotOf(t *testing.T, s *Store, version int) []byte {
	t.Helper()
	b, err := s.BeginBackup()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "snapshot.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if version >= 0 {
		bdb, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = bdb.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(metaSchemaVersion, []byte(strconv.Itoa(version)))
		})
		if err != nil || bdb.Close() != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A snapshot written by a newer schema (a member already upgraded) is
// refused with both versions named, and the live file keeps what it held;
// one of the current version replaces the state.
func TestRestoreRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	src := openTest(t, filepath.Join(t.TempDir(), "src.db"), Options{})
	if _, err := src.CreateCall(ctx, benchCall(1)); err != nil {
		t.Fatal(err)
	}
	current := snapshotOf(t, src, -1)
	newer := snapshotOf(t, src, SchemaVersion+1)

	dst := openTest(t, filepath.Join(t.TempDir(), "dst.db"), Options{})
	if _, err := dst.CreateCall(ctx, benchCall(2)); err != nil {
		t.Fatal(err)
	}

	err := dst.Restore(bytes.NewReader(newer))
	if !errors.Is(err, ErrSnapshotSchemaNewer) {
		t.Fatalf("restore of a schema %d snapshot: %v; want ErrSnapshotSchemaNewer", SchemaVersion+1, err)
	}
	for _, v := range []int{SchemaVersion + 1, SchemaVersion} {
		if !strings.Contains(err.Error(), "version "+strconv.Itoa(v)) &&
			!strings.Contains(err.Error(), "up to "+strconv.Itoa(v)) {
			t.Errorf("error %q does not name version %d", err, v)
		}
	}
	if _, err := dst.TicketByChannel("bench-2"); err != nil {
		t.Errorf("the refused restore lost the live state: %v", err)
	}
	if _, err := dst.TicketByChannel("bench-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the refused snapshot's call is in the live file (%v)", err)
	}
	if v, ok, _ := storedSchemaOf(t, dst); !ok || v != SchemaVersion {
		t.Errorf("live schema version %d (present %v) after a refused restore; want %d", v, ok, SchemaVersion)
	}

	if err := dst.Restore(bytes.NewReader(current)); err != nil {
		t.Fatalf("restore of a current snapshot: %v", err)
	}
	if _, err := dst.TicketByChannel("bench-1"); err != nil {
		t.Errorf("the restored snapshot's call is missing: %v", err)
	}
	if _, err := dst.TicketByChannel("bench-2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the call the snapshot does not hold survived the restore (%v)", err)
	}
}

// An unreadable schema version in a snapshot is refused, not taken as 0.
func TestRestoreRefusesUnreadableSchema(t *testing.T) {
	ctx := context.Background()
	src := openTest(t, filepath.Join(t.TempDir(), "src.db"), Options{})
	raw := snapshotOf(t, src, -1)
	path := filepath.Join(t.TempDir(), "bad.db")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaSchemaVersion, []byte("two"))
	})
	if err != nil || bdb.Close() != nil {
		t.Fatal(err)
	}
	raw, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dst := openTest(t, filepath.Join(t.TempDir(), "dst.db"), Options{})
	if _, err := dst.CreateCall(ctx, benchCall(3)); err != nil {
		t.Fatal(err)
	}
	if err := dst.Restore(bytes.NewReader(raw)); err == nil || !strings.Contains(err.Error(), "unreadable") {
		t.Fatalf("restore of a snapshot with an unreadable schema version: %v", err)
	}
	if _, err := dst.TicketByChannel("bench-3"); err != nil {
		t.Errorf("the refused restore lost the live state: %v", err)
	}
}

// storedSchemaOf reads the schema version key of the running store's file.
func storedSchemaOf(t *testing.T, s *Store) (version int, present bool, err error) {
	t.Helper()
	err = s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(metaSchemaVersion)
		present = v != nil
		version, _ = strconv.Atoi(string(v))
		return nil
	})
	return version, present, err
}

// A snapshot of an older schema (a member's own snapshot from before an
// upgrade, restored when it starts on the new release) is upgraded as
// Open upgrades a file: this binary's version is recorded, and the buckets
// and derived indexes the older release did not have are there.
func TestRestoreUpgradesAnOlderSnapshot(t *testing.T) {
	ctx := context.Background()
	src := openTest(t, filepath.Join(t.TempDir(), "src.db"), Options{})
	if _, err := src.CreateCall(ctx, benchCall(1)); err != nil {
		t.Fatal(err)
	}
	raw := snapshotOf(t, src, -1)
	path := filepath.Join(t.TempDir(), "old.db")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error { // as version 0 wrote it
		if err := tx.Bucket(bucketMeta).Delete(metaSchemaVersion); err != nil {
			return err
		}
		return tx.DeleteBucket(bucketRank)
	})
	if err != nil || bdb.Close() != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dst := openTest(t, filepath.Join(t.TempDir(), "dst.db"), Options{})
	if err := dst.Restore(bytes.NewReader(old)); err != nil {
		t.Fatalf("restore of a version 0 snapshot: %v", err)
	}
	if v, ok, _ := storedSchemaOf(t, dst); !ok || v != SchemaVersion {
		t.Errorf("schema version %d (present %v) after restoring an older snapshot; want %d", v, ok, SchemaVersion)
	}
	err = dst.eng.Bolt().View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketRank) == nil {
			t.Errorf("bucket %s missing after restoring a snapshot without it", bucketRank)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dst.TicketByChannel("bench-1"); err != nil {
		t.Errorf("the restored snapshot's call is missing: %v", err)
	}
	if err := dst.Check(); err != nil {
		t.Errorf("check after the restore: %v", err)
	}
}
