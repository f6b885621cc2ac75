package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enneo-edge/enneo-edge/config"
	"github.com/enneo-edge/enneo-edge/internal/edgetest"
)

// TestFailedBindGeneratesNoToken: with the port taken, serve exits before
// any token is made, so the next start that binds shows its tokens.
func TestFailedBindGeneratesNoToken(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "edge.toml")
	dbPath := filepath.Join(dir, "edge.db")
	toml := "[server]\nlisten = \"" + busy.Addr().String() + "\"\n[storage]\npath = \"" + dbPath + "\"\nmax_size_bytes = 0\n"
	if err := os.WriteFile(cfgPath, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := runServe([]string{"-config", cfgPath}); err == nil || !strings.Contains(err.Error(), "server.listen") {
		t.Fatalf("serve on a busy port: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "generated-tokens")); err == nil {
		t.Fatal("a token was generated for a start that could not bind")
	}
	store, done := edgetest.OpenStore(t, dbPath)
	defer done()
	if s, _ := store.APIToken(); s != "" {
		t.Fatalf("a token was stored for a start that could not bind: %q", s)
	}
}

// TestCLITokenNeverFromTheCommandLine: backup refuses -token (ps shows
// it) and reads the admin line of a token file.
func TestCLITokenNeverFromTheCommandLine(t *testing.T) {
	if err := runBackup([]string{"-config", "", "-token", "edge_secret", "out.db"}); err == nil || !strings.Contains(err.Error(), "-token") {
		t.Fatalf("backup -token: %v", err)
	}
	f := filepath.Join(t.TempDir(), "generated-tokens")
	if err := os.WriteFile(f, []byte("# comment\npbx edge_pbx\nadmin edge_admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ENNEO_EDGE_TOKEN", "")
	if tok, err := cliToken(f, config.Default()); tok != "edge_admin" || err != nil {
		t.Fatalf("cliToken from the generated file: %q %v", tok, err)
	}
	if _, err := cliToken("", config.Default()); err == nil {
		t.Fatal("cliToken without any token")
	}
}
