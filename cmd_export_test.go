package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/model"
)

func TestExportWritesEveryTicket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "edge.db")
	store, err := db.Open(path, db.Options{SiteID: 3})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go store.Run(ctx)
	for _, ch := range []string{"a", "b", "c"} {
		call := model.Call{Routing: model.RoutingNone, Direction: model.DirectionIn, Status: model.StatusClosed, ChannelID: ch, Phone: "+49301234567",
			Transcript: []model.TranscriptEntry{{Speaker: "customer", Message: "Hallo, \"Zähler\", line\nbreak"}}}
		if _, err := store.CreateCall(ctx, db.NewCall{Call: call}); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	var jl, errOut bytes.Buffer
	if err := exportCommand([]string{"-config", "", path}, &jl, &errOut); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(jl.String()), "\n")
	if len(lines) != 3 || !strings.Contains(errOut.String(), "exported 3 tickets") {
		t.Fatalf("jsonl: %d lines\n%s%s", len(lines), jl.String(), errOut.String())
	}
	var first model.Ticket
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.ChannelID != "a" || first.ID != 1000300000000001 ||
		len(first.Conversation) != 1 || first.Events == nil {
		t.Fatalf("first line %v: %s", err, lines[0])
	}

	var c bytes.Buffer
	if err := exportCommand([]string{"-config", "", "-format", "csv", path}, &c, &errOut); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&c).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || rows[0][0] != "id" || rows[1][1] != "a" || rows[3][1] != "c" || rows[1][len(rows[1])-1] != "customer: Hallo, \"Zähler\", line\nbreak" {
		t.Fatalf("csv rows %q", rows)
	}

	// -before leaves out what changed since: here everything.
	var none bytes.Buffer
	if err := exportCommand([]string{"-config", "", "-before", "1000h", path}, &none, &errOut); err != nil || none.Len() != 0 {
		t.Fatalf("-before 1000h: %v %q", err, none.String())
	}
	if err := exportCommand([]string{"-config", "", "-format", "xml", path}, &none, &errOut); err == nil || !strings.Contains(err.Error(), "-format: must be jsonl or csv") {
		t.Errorf("-format xml: %v", err)
	}
}
