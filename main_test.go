package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enneo-edge/enneo-edge/db"
)

func TestImportCommand(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "edge.toml")
	dbPath := filepath.Join(dir, "edge.db")
	if err := os.WriteFile(cfgPath, []byte("[storage]\npath = \""+dbPath+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file, content string
		wantIDs             []string
		wantErr             string
	}{
		{"csv", "c.csv", "id,contractIds,phone,lastname\nA,K1,0171 1234567,Muster\nB,,not a phone,X\nC,K3;K4,+49 30 123,Y\n", []string{"A", "C"}, ""},
		{"jsonl", "c.jsonl", `{"id":"D","contractIds":["K5"],"phones":["030 999"]}` + "\n" + `{"id":` + "\n", []string{"D"}, ""},
		{"missing file", "nope.csv", "", nil, "open"},
		{"csv without id column", "bad.csv", "name,phone\nx,030 1\n", nil, "id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			if tc.content != "" {
				if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := runImport([]string{"-config", cfgPath, path})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			store, err := db.Open(dbPath, db.Options{SiteID: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			for _, id := range tc.wantIDs {
				if _, err := store.Customer(id); err != nil {
					t.Errorf("customer %s: %v", id, err)
				}
			}
		})
	}
	store, err := db.Open(dbPath, db.Options{SiteID: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.Customer("B"); err == nil {
		t.Error("customer B with a bad phone was imported")
	}
	if err := store.Check(); err != nil {
		t.Fatal(err)
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
