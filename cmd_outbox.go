package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/enneo-edge/enneo-edge/config"
)

// outboxNotes follow the flags in outbox -h.
const outboxNotes = `Subcommands:
  list             backlog size and age, forwarder state (paused and why), stuck records and
                   dead letters with reasons
  retry SEQ        put dead letter SEQ (and records parked behind it) back into the outbox; for a
                   pending record, end every backoff and try it now
  retry-all        put every dead letter back into the outbox
  dead-letter SEQ  give up on pending record SEQ (one central keeps failing): it becomes a dead
                   letter with central's last answer, and its ticket's later records park behind it

It talks to the running server's API (/edge/v1/outbox), so it works while
the server runs. The server is server.listen from the config unless -url is
given; the token is -token, else $ENNEO_EDGE_TOKEN, else the first admin
token of auth.tokens.
`

func runOutbox(args []string) error {
	fs := newFlags("outbox")
	cfgPath := fs.String("config", config.DefaultPath, "TOML config file")
	base := fs.String("url", "", "server base URL (default: from server.listen)")
	token := fs.String("token", os.Getenv("ENNEO_EDGE_TOKEN"), "API token (default: $ENNEO_EDGE_TOKEN or auth.tokens[0])")
	asJSON := fs.Bool("json", false, "print the server's JSON answer")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// Flags may follow the subcommand too (outbox list -json).
	rest := []string{"list"}
	if fs.NArg() > 0 {
		sub := fs.Arg(0)
		if err := parseFlags(fs, fs.Args()[1:]); err != nil {
			return err
		}
		rest = append([]string{sub}, fs.Args()...)
	}
	// The subcommand is checked before anything else: a typo is the first
	// thing to hear about, not a missing token.
	var (
		method, path string
		pendingSeq   uint64 // retry: a record that is no dead letter may be pending
	)
	out := printRequeued
	switch {
	case rest[0] == "list" && len(rest) == 1:
		method, path, out = "GET", "/edge/v1/outbox", printOutbox
	case rest[0] == "retry" && len(rest) == 2:
		seq, perr := strconv.ParseUint(rest[1], 10, 64)
		if perr != nil || seq == 0 {
			return fmt.Errorf("retry: SEQ must be a positive integer, got %q", rest[1])
		}
		method, path, pendingSeq = "POST", "/edge/v1/outbox/dead/"+rest[1]+"/retry", seq
	case rest[0] == "retry-all" && len(rest) == 1:
		method, path = "POST", "/edge/v1/outbox/dead/retry"
	case rest[0] == "dead-letter" && len(rest) == 2:
		seq, perr := strconv.ParseUint(rest[1], 10, 64)
		if perr != nil || seq == 0 {
			return fmt.Errorf("dead-letter: SEQ must be a positive integer, got %q", rest[1])
		}
		method, path = "POST", "/edge/v1/outbox/"+rest[1]+"/dead-letter"
		out = func([]byte) error {
			fmt.Printf("record %d is a dead letter now (retry it with `enneo-edge outbox retry %d`)\n", seq, seq)
			return nil
		}
	default:
		return fmt.Errorf("unknown or incomplete subcommand %q: want list, retry SEQ, retry-all or dead-letter SEQ", strings.Join(rest, " "))
	}
	conn, err := dialAdmin(*cfgPath, *base, *token, 30*time.Second)
	if err != nil {
		return err
	}
	cl := outboxClient(conn)
	raw, err := cl.do(method, path)
	if pendingSeq != 0 && errors.Is(err, errNotFound) {
		// Not a dead letter: a pending record, to be tried now.
		raw, err = cl.do("POST", "/edge/v1/outbox/"+strconv.FormatUint(pendingSeq, 10)+"/retry")
		out = func([]byte) error { fmt.Printf("record %d is pending: trying it now\n", pendingSeq); return nil }
		if errors.Is(err, errNotFound) {
			return fmt.Errorf("retry: record %d is neither a dead letter nor pending (delivered already?)", pendingSeq)
		}
	}
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := os.Stdout.Write(append(raw, '\n'))
		return err
	}
	return out(raw)
}

var (
	errNotFound = errors.New("not found")
	errStatus   = errors.New("refused")
)

type outboxClient adminConn

func (c outboxClient) do(method, path string) ([]byte, error) {
	req, err := http.NewRequest(method, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("is enneo-edge running? %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		var err error = errStatus
		if resp.StatusCode == http.StatusNotFound {
			err = errNotFound
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("%s %s: %d: %s (%w)", method, path, resp.StatusCode, e.Error, err)
		}
		return nil, fmt.Errorf("%s %s: %d (%w)", method, path, resp.StatusCode, err)
	}
	return raw, nil
}

func printRequeued(raw []byte) error {
	var a struct {
		Requeued int `json:"requeued"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	fmt.Printf("%d record(s) back in the outbox\n", a.Requeued)
	return nil
}

type outboxView struct {
	Outbox struct {
		Pending          int64   `json:"pending"`
		OldestPendingAge float64 `json:"oldestPendingAgeSeconds"`
		DeadLetters      int64   `json:"deadLetters"`
		Paused           *struct {
			Since  time.Time `json:"since"`
			Status int       `json:"status"`
			Reason string    `json:"reason"`
		} `json:"paused"`
	} `json:"outbox"`
	Forwarder *struct {
		Workers        int    `json:"workers"`
		InFlight       int    `json:"inFlight"`
		FailuresInARow int    `json:"failuresInARow"`
		RetryAt        string `json:"retryAt"`
		Delivered      int64  `json:"delivered"`
		LastError      string `json:"lastError"`
	} `json:"forwarder"`
	Stuck []struct {
		Seq   uint64 `json:"seq"`
		Kind  string `json:"kind"`
		Key   string `json:"key"`
		Tries struct {
			Attempts   int       `json:"attempts"`
			LastStatus int       `json:"lastStatus"`
			LastError  string    `json:"lastError"`
			FirstAt    time.Time `json:"firstAt"`
		} `json:"tries"`
	} `json:"stuck"`
	StuckTotal  int64 `json:"stuckTotal"`
	DeadLetters []struct {
		Seq    uint64 `json:"seq"`
		Record struct {
			Kind     string `json:"kind"`
			TicketID int64  `json:"ticketId"`
			UserID   int64  `json:"userId"`
		} `json:"record"`
		Status   int       `json:"status"`
		Reason   string    `json:"reason"`
		Attempts int       `json:"attempts"`
		DeadAt   time.Time `json:"deadAt"`
		Parked   bool      `json:"parked"`
	} `json:"deadLetters"`
}

func printOutbox(raw []byte) error { return writeOutbox(os.Stdout, raw) }

// writeOutbox prints the answer of GET /edge/v1/outbox for a person. An
// air-gapped site's records are not a backlog: they are what it keeps.
func writeOutbox(w io.Writer, raw []byte) error {
	var v outboxView
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	o := v.Outbox
	oldest := (time.Duration(o.OldestPendingAge) * time.Second).String()
	if v.Forwarder == nil {
		fmt.Fprintf(w, "records:      %d, air-gapped: kept locally (oldest %s); retention.air_gapped deletes them after their last change, enneo-edge export saves them\n", o.Pending, oldest)
		fmt.Fprintln(w, "forwarder:    off (air-gapped: no upstream.url)")
	} else {
		fmt.Fprintf(w, "pending:      %d (oldest %s)\n", o.Pending, oldest)
	}
	fmt.Fprintf(w, "dead letters: %d\n", o.DeadLetters)
	if o.Paused != nil {
		fmt.Fprintf(w, "PAUSED since %s: %s\n", o.Paused.Since.Format(time.RFC3339), o.Paused.Reason)
	}
	if f := v.Forwarder; f != nil {
		fmt.Fprintf(w, "forwarder:    %d/%d in flight, %d delivered since start, %d failures in a row", f.InFlight, f.Workers, f.Delivered, f.FailuresInARow)
		if f.RetryAt != "" {
			fmt.Fprintf(w, ", next try %s", f.RetryAt)
		}
		fmt.Fprintln(w)
		if f.LastError != "" {
			fmt.Fprintf(w, "last error:   %s\n", f.LastError)
		}
	}
	if len(v.Stuck) > 0 {
		fmt.Printf("\nstuck: %d record(s) failing for longer than upstream.stuck_after, still retried\n", v.StuckTotal)
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tKIND\tTICKET/USER\tSTATUS\tTRIES\tFAILING SINCE\tLAST ANSWER")
		for _, st := range v.Stuck {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\t%s\n", st.Seq, st.Kind, st.Key, st.Tries.LastStatus, st.Tries.Attempts,
				st.Tries.FirstAt.Format(time.RFC3339), st.Tries.LastError)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(v.DeadLetters) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tKIND\tTICKET/USER\tSTATUS\tTRIES\tDEAD SINCE\tREASON")
	for _, d := range v.DeadLetters {
		who := "ticket " + strconv.FormatInt(d.Record.TicketID, 10)
		if d.Record.Kind == "routingStatus" {
			who = "user " + strconv.FormatInt(d.Record.UserID, 10)
		}
		reason := d.Reason
		if d.Parked {
			reason = "(parked) " + reason
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\t%s\n", d.Seq, d.Record.Kind, who, d.Status, d.Attempts, d.DeadAt.Format(time.RFC3339), reason)
	}
	if int64(len(v.DeadLetters)) < o.DeadLetters {
		fmt.Fprintf(tw, "… %d more (GET /edge/v1/outbox/dead?limit=N)\n", o.DeadLetters-int64(len(v.DeadLetters)))
	}
	return tw.Flush()
}
