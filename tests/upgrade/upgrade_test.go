// Package upgrade runs the real binary on database files of other schema
// versions: an older file is backed up before it is upgraded, a newer one
// is refused by serve and check with both versions and the rollback step.
package upgrade

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/internal/edgetest"
)

var binary string

func TestMain(m *testing.M) { edgetest.Main(m, "../..", &binary) }

func config(t *testing.T, dir string) string {
	t.Helper()
	addr := edgetest.FreeAddr(t)
	cfg := filepath.Join(dir, "enneo-edge.toml")
	body := fmt.Sprintf("[server]\nlisten = %q\n[storage]\npath = %q\n[auth]\ntokens = [\"upgrade-test-token-0123456789\"]\n",
		addr, filepath.Join(dir, "edge.db"))
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// runOnce starts the edge, waits until it is ready (the database open, a
// probe committed) and stops it.
func runOnce(t *testing.T, cfg string) {
	t.Helper()
	p := edgetest.Start(t, binary, cfg)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 20 s: %v\n%s", err, p.Logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Stop(t)
}

// schema reads the file's schema_version key ("" without one).
func schema(t *testing.T, path string) string {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var v []byte
	_ = b.View(func(tx *bolt.Tx) error {
		v = append(v, tx.Bucket([]byte("meta")).Get([]byte("schema_version"))...)
		return nil
	})
	return string(v)
}

func setSchema(t *testing.T, path, v string) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket([]byte("meta"))
		if v == "" {
			return m.Delete([]byte("schema_version"))
		}
		return m.Put([]byte("schema_version"), []byte(v))
	})
	if err != nil || b.Close() != nil {
		t.Fatal(err)
	}
}

// TestServeUpgradesOlderFileWithBackup: the previous release's file (the
// current layout without the version key, as every file before it) is
// copied to edge.db.schema0.bak, then upgraded, by `serve`.
func TestServeUpgradesOlderFileWithBackup(t *testing.T) {
	dir := t.TempDir()
	cfg := config(t, dir)
	path := filepath.Join(dir, "edge.db")
	runOnce(t, cfg)
	setSchema(t, path, "")

	runOnce(t, cfg)
	if v := schema(t, path); v != strconv.Itoa(db.SchemaVersion) {
		t.Errorf("upgraded file has schema %q, want %d", v, db.SchemaVersion)
	}
	backup := db.SchemaBackupPath(path, 0)
	if v := schema(t, backup); v != "" {
		t.Errorf("backup has schema %q: it is not the file as it was before the upgrade", v)
	}
	out, err := exec.Command(binary, "check", backup).CombinedOutput()
	if err != nil {
		t.Errorf("the backup does not pass check: %v\n%s", err, out)
	}
}

// TestNewerFileIsRefused: serve and check of this binary on a file a
// newer release wrote name both versions and the way back, do not call it
// damaged, and leave it as it was.
func TestNewerFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := config(t, dir)
	path := filepath.Join(dir, "edge.db")
	runOnce(t, cfg)
	newer := strconv.Itoa(db.SchemaVersion + 1)
	setSchema(t, path, newer)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"serve", "-config", cfg}, {"check", "-config", cfg}} {
		out, err := exec.Command(binary, args...).CombinedOutput()
		if err == nil {
			t.Fatalf("%s of a schema %s file succeeded:\n%s", args[0], newer, out)
		}
		msg := string(out)
		for _, want := range []string{
			"database schema version " + newer + " is newer than this enneo-edge's " + strconv.Itoa(db.SchemaVersion),
			"roll the database back", db.SchemaBackupPath(path, db.SchemaVersion),
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: output lacks %q:\n%s", args[0], want, msg)
			}
		}
		if strings.Contains(msg, "damaged") {
			t.Errorf("%s calls a newer file damaged:\n%s", args[0], msg)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the refused file was changed")
	}
}
