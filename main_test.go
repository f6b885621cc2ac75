package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enneo-edge/enneo-edge/config"
	"github.com/enneo-edge/enneo-edge/db"
)

func TestGeneratedTokenIsStoredAndPrintedOnce(t *testing.T) {
	cfg := config.Default()
	cfg.Storage.Path = filepath.Join(t.TempDir(), "edge.db")
	var first, second bytes.Buffer
	for i, out := range []*bytes.Buffer{&first, &second} {
		store, err := db.Open(cfg.Storage.Path, db.Options{SiteID: 1})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go store.Run(ctx)
		toks, err := apiTokens(cfg, store, out)
		cancel()
		if cerr := store.Close(); err != nil || cerr != nil {
			t.Fatalf("start %d: %v %v", i, err, cerr)
		}
		if len(toks) != 1 || !strings.HasPrefix(toks[0], "edge_") {
			t.Fatalf("start %d: tokens %v", i, toks)
		}
		if i == 1 && !strings.Contains(first.String(), toks[0]) {
			t.Fatal("the second start uses another token than the first printed")
		}
	}
	if !strings.Contains(first.String(), "shown only this once") || second.Len() != 0 {
		t.Fatalf("first start printed %q, second %q", first.String(), second.String())
	}
	// Configured tokens replace the generated one.
	cfg.Auth.Tokens = []string{"configured-token-0123456789"}
	store, err := db.Open(cfg.Storage.Path, db.Options{SiteID: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if toks, _ := apiTokens(cfg, store, &second); len(toks) != 1 || toks[0] != "configured-token-0123456789" {
		t.Fatalf("configured tokens ignored: %v", toks)
	}
}

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
