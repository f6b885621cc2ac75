package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckCommand covers the in-process part; damaged files are checked in
// a child process of the real binary (tests/crash TestCorruptDatabaseRefusedUntouched).
func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "edge.toml")
	if err := os.WriteFile(cfgPath, []byte("[storage]\npath = \""+filepath.Join(dir, "edge.db")+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := runCheck([]string{"-config", cfgPath}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("check of a missing file: %v", err)
	}
}
