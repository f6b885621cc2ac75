package db

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout this binary writes. A file records the
// version it was last opened for writing with (meta key schema_version);
// files from before the key existed are version 0.
//
// Raise it when a change is one an older binary must not run on: a bucket
// or value it would misread, not one it merely lacks (older binaries
// ignore buckets they do not know). Open then backs the file up before it
// upgrades it, and an older binary refuses the file instead of guessing.
//
//	0: before the key (tickets, queues, presence, outbox, directory, ...)
//	1: the key itself; every bucket in allBuckets
const SchemaVersion = 1

var metaSchemaVersion = []byte("schema_version")

// SchemaError is an older binary opening a file a newer one upgraded.
type SchemaError struct {
	Path         string
	File, Binary int // the file's schema version and this binary's
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("database schema version %d "+newerPhrase+" %d: a newer release upgraded it. "+
		"Run that release again, or roll the database back too: stop the service, move %s and its -wal0/-wal1 files aside "+
		"and put %s (the copy that release made before upgrading) in its place; calls taken since the upgrade are then "+
		"only in the moved file and at central enneo",
		e.File, e.Binary, e.Path, SchemaBackupPath(e.Path, e.Binary))
}

const newerPhrase = "is newer than this enneo-edge's"

// IsSchemaRefusal tells whether msg is a SchemaError's text, for callers
// that see the error only as the output of a child process (the start-up
// check): it is no damage, and restoring a backup is not the cure.
func IsSchemaRefusal(msg string) bool { return strings.Contains(msg, newerPhrase) }

// SchemaBackupPath is where Open copies a file of schema version old
// before upgrading it: next to it, named after the version it holds.
func SchemaBackupPath(path string, old int) string {
	return path + ".schema" + strconv.Itoa(old) + ".bak"
}

// readSchema returns the file's schema version and whether the file is
// new (no meta bucket yet: nothing to back up).
func readSchema(tx *bolt.Tx) (version int, fresh bool, err error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0, true, nil
	}
	v := meta.Get(metaSchemaVersion)
	if v == nil {
		return 0, false, nil
	}
	n, err := strconv.Atoi(string(v))
	if err != nil || n < 0 {
		return 0, false, fmt.Errorf("schema version %q unreadable", v)
	}
	return n, false, nil
}

// checkSchema refuses a file newer than this binary and, when the file is
// older and will be written to, copies it to SchemaBackupPath first: the
// upgrade (the bucket creation in Open) then runs on a file whose previous
// state can be put back. It returns whether the version key must be
// written.
func checkSchema(b *bolt.DB, path string, readOnly bool) (write bool, err error) {
	var (
		version int
		fresh   bool
	)
	err = b.View(func(tx *bolt.Tx) error {
		version, fresh, err = readSchema(tx)
		return err
	})
	switch {
	case err != nil:
		return false, err
	case version > SchemaVersion:
		return false, &SchemaError{Path: path, File: version, Binary: SchemaVersion}
	case readOnly || version == SchemaVersion:
		return false, nil
	case fresh:
		return true, nil
	}
	if err := backupBeforeUpgrade(b, SchemaBackupPath(path, version)); err != nil {
		return false, fmt.Errorf("back up before upgrading schema %d to %d: %w", version, SchemaVersion, err)
	}
	return true, nil
}

// backupBeforeUpgrade writes a consistent copy of the file to dst through
// a temporary file, fsynced and renamed, so a crash leaves either no
// backup or a whole one (a retried upgrade writes it again).
func backupBeforeUpgrade(b *bolt.DB, dst string) error {
	return writeSynced(dst, func(w io.Writer) error {
		return b.View(func(tx *bolt.Tx) error {
			_, err := tx.WriteTo(w)
			return err
		})
	})
}

// writeSchema records this binary's schema version; Open calls it in the
// transaction that creates the buckets.
func writeSchema(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return errors.New("schema version: no meta bucket")
	}
	return meta.Put(metaSchemaVersion, []byte(strconv.Itoa(SchemaVersion)))
}
