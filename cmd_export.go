package main

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	json "github.com/goccy/go-json"

	"github.com/enneo-edge/enneo-edge/config"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/model"
)

// runExport writes the tickets of a database file as JSON Lines or CSV:
// what an air-gapped site keeps before retention.air_gapped deletes it. It
// reads the file like check does (replaying its write-ahead log first), so
// the server must be stopped, or export a backup taken while it runs.
func runExport(args []string) error { return exportCommand(args, os.Stdout, os.Stderr) }

func exportCommand(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("export")
	cfgPath := fs.String("config", config.DefaultPath, "TOML config file")
	format := fs.String("format", "jsonl", "jsonl (every stored field, one ticket a line) or csv (one row a ticket, the main fields)")
	before := durationVar(fs, "before", 0, "only tickets last changed longer ago than this (e.g. 2000h: what retention.air_gapped deletes soon); 0: all")
	out := fs.String("o", "", "write to FILE instead of stdout")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 0, 1, "at most one DBFILE"); err != nil {
		return err
	}
	if *format != "jsonl" && *format != "csv" {
		return fmt.Errorf("-format: must be jsonl or csv, got %q", *format)
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	path := cfg.Storage.Path
	if fs.NArg() == 1 {
		path = fs.Arg(0)
	}
	if _, err := os.Stat(path); err != nil {
		return err
	}
	if n, err := db.RecoverWAL(path); err != nil {
		return err
	} else if n > 0 {
		fmt.Fprintf(stderr, "%s: replayed %d commits from the write-ahead log\n", path, n)
	}
	store, err := db.Open(path, db.Options{SiteID: cfg.Site.ID, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("%w (export needs the server stopped; while it runs, export a backup: enneo-edge backup FILE)", err)
	}
	defer store.Close()
	w := stdout
	var file *os.File
	if *out != "" {
		if file, err = os.Create(*out); err != nil {
			return err
		}
		defer file.Close()
		w = file
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	write := jsonlTicket(bw)
	var cw *csv.Writer
	if *format == "csv" {
		cw = csv.NewWriter(bw)
		if err := cw.Write(csvTicketHeader); err != nil {
			return err
		}
		write = func(t *model.Ticket) error { return cw.Write(csvTicket(t)) }
	}
	cutoff := time.Now().Add(-*before)
	n := 0
	err = store.EachTicket(func(t *model.Ticket) error {
		if *before > 0 && !t.ModifiedAt.Before(cutoff) {
			return nil
		}
		n++
		return write(t)
	})
	if cw != nil {
		cw.Flush()
		err = firstErr(err, cw.Error())
	}
	if err = firstErr(err, bw.Flush()); err == nil && file != nil {
		err = file.Sync()
	}
	if err != nil {
		return fmt.Errorf("export %s: %w", path, err)
	}
	fmt.Fprintf(stderr, "exported %d tickets from %s\n", n, path)
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func jsonlTicket(w io.Writer) func(*model.Ticket) error {
	return func(t *model.Ticket) error {
		b, err := json.Marshal(t)
		if err != nil {
			return fmt.Errorf("encode ticket %d: %w", t.ID, err)
		}
		_, err = w.Write(append(b, '\n'))
		return err
	}
}

var csvTicketHeader = []string{"id", "channelId", "createdAt", "modifiedAt", "direction", "routing", "status", "from", "fromName", "to",
	"customerId", "contractId", "agentId", "queueId", "subchannelId", "totalDurationSeconds", "humanDurationSeconds",
	"callEndedAt", "forwarding", "conversationLines", "transcript"}

func csvTicket(t *model.Ticket) []string {
	i := func(v int64) string {
		if v == 0 {
			return ""
		}
		return strconv.FormatInt(v, 10)
	}
	var total, human, ended string
	if d := t.Durations; d != nil {
		if d.TotalSeconds != nil {
			total = strconv.FormatInt(*d.TotalSeconds, 10)
		}
		if d.HumanSeconds != nil {
			human = strconv.FormatInt(*d.HumanSeconds, 10)
		}
	}
	if t.CallEndedAt != nil {
		ended = t.CallEndedAt.UTC().Format(time.RFC3339)
	}
	var transcript []byte
	for k, c := range t.Conversation {
		if k > 0 {
			transcript = append(transcript, '\n')
		}
		transcript = append(append(append(transcript, c.Speaker...), ": "...), c.Message...)
	}
	return []string{i(t.ID), t.ChannelID, t.CreatedAt.UTC().Format(time.RFC3339), t.ModifiedAt.UTC().Format(time.RFC3339),
		t.Direction, t.Routing, t.Status, t.From, t.FromName, t.To, t.CustomerID, t.ContractID, i(t.AgentID), i(t.QueueID),
		i(t.SubchannelID), total, human, ended, t.Forwarding.State, strconv.Itoa(len(t.Conversation)), string(transcript)}
}
