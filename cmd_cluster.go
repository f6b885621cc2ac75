package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/enneo-edge/enneo-edge/config"
)

// runCluster shows and changes the cluster through the running server's
// API (/edge/v1/cluster), like outbox.
func runCluster(args []string) error {
	fs := newFlags("cluster")
	cfgPath := fs.String("config", config.DefaultPath, "TOML config file")
	base := fs.String("url", "", "server base URL (default: from server.listen)")
	token := fs.String("token", os.Getenv("ENNEO_EDGE_TOKEN"), "API token (default: $ENNEO_EDGE_TOKEN or auth.tokens' first admin token)")
	asJSON := fs.Bool("json", false, "print the server's JSON answer")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// Flags may stand before, between or after the subcommand's words
	// (cluster remove edge-b -config F): the flag package stops at the
	// first word, so each word is taken and parsing goes on after it.
	var rest []string
	for fs.NArg() > 0 {
		rest = append(rest, fs.Arg(0))
		if err := parseFlags(fs, fs.Args()[1:]); err != nil {
			return err
		}
	}
	if len(rest) == 0 {
		rest = []string{"status"}
	}
	var (
		method, path string
		body         string
	)
	switch {
	case rest[0] == "status" && len(rest) == 1:
		method, path = "GET", "/edge/v1/cluster"
	case rest[0] == "add" && len(rest) == 3:
		b, _ := json.Marshal(map[string]string{"node": rest[1], "addr": rest[2]})
		method, path, body = "POST", "/edge/v1/cluster/members", string(b)
	case rest[0] == "remove" && len(rest) == 2:
		method, path = "DELETE", "/edge/v1/cluster/members/"+rest[1]
	default:
		return fmt.Errorf("unknown or incomplete subcommand %q: want status, add NODE ADDR or remove NODE", strings.Join(rest, " "))
	}
	conn, err := dialAdmin(*cfgPath, *base, *token, 15*time.Second)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(method, conn.base+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+conn.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := conn.http.Do(req)
	if err != nil {
		return fmt.Errorf("is enneo-edge running? %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s %s: %d: %s", method, path, resp.StatusCode, e.Error)
		}
		return fmt.Errorf("%s %s: %d", method, path, resp.StatusCode)
	}
	if *asJSON || rest[0] != "status" {
		_, err := os.Stdout.Write(append(raw, '\n'))
		return err
	}
	return printCluster(os.Stdout, raw)
}

func printCluster(out io.Writer, raw []byte) error {
	var st struct {
		Node, Role, Leader, LeaderAddr, Unhealthy, Refused string
		Term, AppliedIndex, CommitIndex                    uint64
		ClockAheadMillis                                   int64
		LastLeaderChange                                   time.Time
		Members                                            []struct {
			Node, Addr, Suffrage string
			Lag                  int64
		}
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("decode the server's answer: %w", err)
	}
	fmt.Fprintf(out, "node %s: %s, term %d, applied %d, committed %d\n", st.Node, st.Role, st.Term, st.AppliedIndex, st.CommitIndex)
	fmt.Fprintf(out, "leader %s (%s), last change %s\n", st.Leader, st.LeaderAddr, st.LastLeaderChange.Format(time.RFC3339))
	if st.Unhealthy != "" {
		fmt.Fprintf(out, "NOT READY: %s\n", st.Unhealthy)
	}
	if st.Refused != "" {
		fmt.Fprintf(out, "REFUSED: %s\n", st.Refused)
	}
	if ahead := time.Duration(st.ClockAheadMillis) * time.Millisecond; ahead > time.Minute { // cluster.MaxStampAhead
		fmt.Fprintf(out, "CLOCK AHEAD: this member's clock ran %s ahead of the members' median when it led; its stamps were held to %s ahead (check NTP)\n",
			ahead.Round(time.Second), time.Minute)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "MEMBER\tADDRESS\tSUFFRAGE\tLAG")
	for _, m := range st.Members {
		lag := fmt.Sprint(m.Lag)
		if m.Lag < 0 {
			lag = "unreachable"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", m.Node, m.Addr, m.Suffrage, lag)
	}
	return w.Flush()
}
