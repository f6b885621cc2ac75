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

// writeSchema0 builds a database as the release before the schema key
// wrote it: its buckets (not those added since), a token, no version.
func writeSchema0(t *testing.T, path string) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketTickets, bucketChannels, bucketQueues, bucketPresence, bucketOutbox,
			bucketCustomers, bucketCustomersByPhone, bucketCustomersByContr, bucketMeta, bucketAgents} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(metaAPIToken, []byte("token-from-schema-0"))
	})
	if err != nil || b.Close() != nil {
		t.Fatal(err)
	}
}

func storedSchema(t *testing.T, path string) (version int, present bool, buckets int) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_ = b.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(metaSchemaVersion)
		present = v != nil
		version, _ = strconv.Atoi(string(v))
		return tx.ForEach(func([]byte, *bolt.Bucket) error { buckets++; return nil })
	})
	return version, present, buckets
}

// An older file is copied next to itself before it is upgraded, and the
// copy is the file as it was: put back, it is the old release's database.
func TestSchemaUpgradeBacksUpFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	writeSchema0(t, path)
	// Read-only (check, the start-up pre-check) neither writes nor backs up.
	ro, err := Open(path, Options{SiteID: 1, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = ro.Close()
	backup := SchemaBackupPath(path, 0)
	if _, err := os.Stat(backup); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read-only open wrote a backup (%v)", err)
	}

	s, err := Open(path, Options{SiteID: 1})
	if err != nil {
		t.Fatalf("open schema 0: %v", err)
	}
	tok, err := s.APIToken()
	if err != nil || tok != "token-from-schema-0" {
		t.Errorf("token after upgrade %q (%v)", tok, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	if _, err := s.CreateCall(ctx, NewCall{Call: benchCall(1).Call}); err != nil {
		t.Fatalf("call on the upgraded database: %v", err)
	}
	cancel()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	if v, ok, n := storedSchema(t, path); !ok || v != SchemaVersion || n != len(allBuckets) {
		t.Errorf("upgraded file: schema %d (present %v), %d buckets; want %d and %d", v, ok, n, SchemaVersion, len(allBuckets))
	}
	if v, ok, n := storedSchema(t, backup); ok || n != 10 {
		t.Errorf("backup: schema %d (present %v), %d buckets; want the schema-0 file with its 10 buckets", v, ok, n)
	}
	bk, err := Open(backup, Options{SiteID: 1, ReadOnly: true})
	if err != nil {
		t.Fatalf("the backup does not open: %v", err)
	}
	if tok, err := bk.APIToken(); err != nil || tok != "token-from-schema-0" {
		t.Errorf("backup's token %q (%v)", tok, err)
	}
	_ = bk.Close()
	if _, err := os.Stat(backup + ".tmp"); err == nil {
		t.Error("temporary backup left behind")
	}

	// Opening the now-current file again makes no new backup.
	if err := os.Remove(backup); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{SiteID: 1})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if _, err := os.Stat(backup); err == nil {
		t.Error("a current file was backed up again")
	}
}

// A new file starts at the current version, with no backup of nothing.
func TestSchemaVersionOfNewFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "edge.db")
	s, err := Open(path, Options{SiteID: 1})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if v, ok, _ := storedSchema(t, path); !ok || v != SchemaVersion {
		t.Errorf("new file: schema %d (present %v), want %d", v, ok, SchemaVersion)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.bak")); len(m) != 0 {
		t.Errorf("new file backed up: %v", m)
	}
}

// A file a newer release upgraded is refused, read-only or not, with both
// versions and the way back in the message, and is left as it was.
func TestNewerSchemaIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s, err := Open(path, Options{SiteID: 1})
	if err != nil {
		t.Fatal(err)
	}
	err = s.eng.Bolt().Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaSchemaVersion, []byte(strconv.Itoa(SchemaVersion+1)))
	})
	if err != nil || s.Close() != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	for _, ro := range []bool{true, false} {
		s, err := Open(path, Options{SiteID: 1, ReadOnly: ro})
		if err == nil {
			_ = s.Close()
			t.Fatalf("read-only %v: a schema %d file opened in a schema %d binary", ro, SchemaVersion+1, SchemaVersion)
		}
		var se *SchemaError
		if !errors.As(err, &se) || se.File != SchemaVersion+1 || se.Binary != SchemaVersion {
			t.Errorf("read-only %v: error %v is not a SchemaError for %d vs %d", ro, err, SchemaVersion+1, SchemaVersion)
		}
		msg := err.Error()
		for _, want := range []string{
			"schema version " + strconv.Itoa(SchemaVersion+1) + " is newer than this enneo-edge's " + strconv.Itoa(SchemaVersion),
			"roll the database back", SchemaBackupPath(path, SchemaVersion), path,
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("read-only %v: message lacks %q:\n%s", ro, want, msg)
			}
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the refused file was changed")
	}
	if m, _ := filepath.Glob(path + ".*.bak"); len(m) != 0 {
		t.Errorf("the refused file was backed up: %v", m)
	}
}

func TestUnreadableSchemaVersionIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s, err := Open(path, Options{SiteID: 1})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.eng.Bolt().Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaSchemaVersion, []byte("two")) })
	_ = s.Close()
	if s, err := Open(path, Options{SiteID: 1}); err == nil || !strings.Contains(err.Error(), `schema version "two" unreadable`) {
		if s != nil {
			_ = s.Close()
		}
		t.Fatalf("garbage schema version: %v", err)
	}
}

// No backup, no upgrade: when the copy cannot be written the file is not
// touched and the open fails saying why.
func TestSchemaUpgradeWithoutBackupIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	writeSchema0(t, path)
	// A directory where the temporary copy goes makes its creation fail
	// (permissions would not stop root, who runs CI).
	if err := os.Mkdir(SchemaBackupPath(path, 0)+".tmp", 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{SiteID: 1})
	if err == nil {
		_ = s.Close()
		t.Fatal("upgraded without a backup")
	}
	if !strings.Contains(err.Error(), "back up before upgrading schema 0 to "+strconv.Itoa(SchemaVersion)) {
		t.Errorf("error %v does not say the backup failed", err)
	}
	if _, ok, n := storedSchema(t, path); ok || n != 10 {
		t.Errorf("the file was upgraded anyway: version key %v, %d buckets", ok, n)
	}
}
