package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enneo-edge/enneo-edge/db"
)

// threeKindsOfBadLines is a CSV whose line 4 opens a quote it never
// closes (which once swallowed every line after it), line 5 has too few
// columns and line 6 no phone and no contract.
const threeKindsOfBadLines = "id,contractIds,phone,lastname\n" +
	"A,K1,0171 1234567,Muster\n" +
	"B,,0171 2345678,\"Schmidt\n" +
	"C,K3;K4,+49 30 123,\"O\"\"Neil\"\n" +
	"D,,0171 3456789\n" +
	"E,,,Nophone\n" +
	"F,,030 999,Last\n"

func TestImportCommand(t *testing.T) {
	tests := []struct {
		name, file, content string
		args                []string
		wantIDs, absentIDs  []string
		wantErr             string
		wantStderr          []string
	}{
		{name: "csv", file: "c.csv", content: "id,contractIds,phone,lastname\nA,K1,0171 1234567,Muster\nC,K3;K4,+49 30 123,Y\n",
			wantIDs: []string{"A", "C"}},
		{name: "bad lines import nothing", file: "bad.csv", content: threeKindsOfBadLines,
			absentIDs: []string{"A", "B", "C", "D", "E", "F"},
			wantErr:   "3 bad lines (listed above), so nothing was imported; fix them, or add -partial to import the other 3 customers",
			wantStderr: []string{
				`bad.csv:3: field 4: quoted field not closed on this line`,
				"bad.csv:5: 3 columns, the header has 4",
				"bad.csv:6: phone: missing, and no contract ID either",
			}},
		{name: "partial imports the good lines", file: "bad.csv", content: threeKindsOfBadLines, args: []string{"-partial"},
			wantIDs: []string{"A", "C", "F"}, absentIDs: []string{"B", "D", "E"},
			wantStderr: []string{"bad.csv:3: ", "bad.csv:5: ", "bad.csv:6: "}},
		{name: "jsonl", file: "c.jsonl", content: `{"id":"D","contractIds":["K5"],"phones":["030 999"]}` + "\n" + `{"id":` + "\n",
			absentIDs: []string{"D"}, wantErr: "1 bad lines", wantStderr: []string{"c.jsonl:2: invalid JSON"}},
		{name: "missing file", file: "nope.csv", wantErr: "open"},
		{name: "csv without id column", file: "noid.csv", content: "name,phone\nx,030 1\n", wantErr: "id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfgPath := filepath.Join(dir, "edge.toml")
			dbPath := filepath.Join(dir, "edge.db")
			if err := os.WriteFile(cfgPath, []byte("[storage]\npath = \""+dbPath+"\"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tc.file)
			if tc.content != "" {
				if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var stdout, stderr bytes.Buffer
			err := importCommand(append(append([]string{"-config", cfgPath}, tc.args...), path), &stdout, &stderr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to mention %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.wantStderr {
				if !strings.Contains(stderr.String(), filepath.Join(dir, want)) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
				}
			}
			if len(tc.wantIDs)+len(tc.absentIDs) == 0 {
				return
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
			for _, id := range tc.absentIDs {
				if _, err := store.Customer(id); err == nil {
					t.Errorf("customer %s was imported", id)
				}
			}
			if err := store.Check(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
