package pbx

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFreeSWITCHReplay runs integrations/freeswitch/enneo.lua under Lua
// with stand-ins for FreeSWITCH's session and API (testdata/fs_stub.lua);
// each "curl" API call it makes is performed as mod_curl performs it
// (modCurl below) against a real edge. It covers the lookup with the first
// edge down, agentConnected from the agent's leg, callCompleted from the
// hangup hook the lookup set, and the fail-open answer to a wrong token.
func TestFreeSWITCHReplay(t *testing.T) {
	needTools(t, "lua5.4")
	dir := t.TempDir()
	e := startEdge(t, filepath.Join(dir, "edge"), token)
	script := writeLuaScript(t, dir, []string{closedTCPURL(t), e.URL}, token)

	const uuid = "7f4c2a9e-1b2d-4c3e-9f00-5a6b7c8d9e0f"
	run := runLua(t, script, uuid, map[string]string{"caller_id_number": "+49 (30) 555-0199"})
	if run.set["enneo_lookup"] != "ok" {
		t.Fatalf("lookup: enneo_lookup = %q, want ok (curl calls: %q)", run.set["enneo_lookup"], run.curls)
	}
	ticket := run.set["enneo_ticket_id"]
	v := getTicket(t, e, ticket)
	if v.Ticket.ChannelID != uuid || v.Ticket.From != "+49305550199" {
		t.Errorf("ticket %s: channelId %q from %q, want %q and the caller's number", ticket, v.Ticket.ChannelID, v.Ticket.From, uuid)
	}
	if len(run.curls) != 2 {
		t.Errorf("lookup made %d curl calls, want 2 (the down edge, then the second)", len(run.curls))
	}
	if got := run.exec["export"]; !strings.Contains(got, "execute_on_answer=lua enneo.lua agent") {
		t.Errorf("lookup did not arrange agentConnected: exports %q", got)
	}

	// The agent's leg: the exported channel and the directory's user ID.
	runLua(t, script, "agent-leg-uuid", map[string]string{"enneo_channel": uuid, "enneo_user_id": "42"}, "agent")
	if v := getTicket(t, e, ticket); v.Ticket.AgentID == nil || *v.Ticket.AgentID != 42 || !v.has("agentConnected") {
		t.Errorf("after agentConnected: agent %v, events %v", v.Ticket.AgentID, v.Ticket.Events)
	}

	// Hang-up: the api_hangup_hook the lookup set, as FreeSWITCH runs it.
	hook := strings.Fields(run.set["api_hangup_hook"])
	if len(hook) != 6 || hook[0] != "lua" || hook[2] != "completed" {
		t.Fatalf("api_hangup_hook = %q", run.set["api_hangup_hook"])
	}
	runLua(t, script, "", nil, hook[2:]...)
	if v := getTicket(t, e, ticket); !v.has("callCompleted") {
		t.Errorf("no callCompleted after the hangup hook: %v", v.Ticket.Events)
	}

	// A wrong token: both edges refuse, the call fails open.
	bad := writeLuaScript(t, filepath.Join(dir, "bad"), []string{e.URL, e.URL}, "wrong-token-0123456789")
	run = runLua(t, bad, "b2c3d4e5-0000-4000-8000-000000000001", map[string]string{"caller_id_number": "100"})
	if run.set["enneo_lookup"] != "failed" || run.set["enneo_ticket_id"] != "" {
		t.Errorf("wrong token: enneo_lookup %q, ticket %q; want failed and none", run.set["enneo_lookup"], run.set["enneo_ticket_id"])
	}
}

// writeLuaScript copies enneo.lua with its site settings replaced.
func writeLuaScript(t *testing.T, dir string, edges []string, tok string) string {
	t.Helper()
	b, err := os.ReadFile("../../integrations/freeswitch/enneo.lua")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for re, repl := range map[string]string{
		`(?m)^local EDGES = \{.*\}$`: "local EDGES = { " + quoteAll(edges) + " }",
		`(?m)^local TOKEN = ".*"$`:   fmt.Sprintf(`local TOKEN = %q`, tok),
	} {
		r := regexp.MustCompile(re)
		if len(r.FindAllString(s, -1)) != 1 {
			t.Fatalf("enneo.lua: no single line matching %s", re)
		}
		s = r.ReplaceAllLiteralString(s, repl)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "enneo.lua")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// quoteAll is edges as a Lua list's items.
func quoteAll(edges []string) string {
	q := make([]string, len(edges))
	for i, e := range edges {
		q[i] = strconv.Quote(e)
	}
	return strings.Join(q, ", ")
}

// luaRun is what one run of the script did.
type luaRun struct {
	curls []string          // mod_curl argument strings, in order
	set   map[string]string // session:setVariable
	exec  map[string]string // session:execute, data joined by "|"
}

// runLua runs the script through the stub; uuid "" runs it without a
// session. Each curl call is answered by modCurl.
func runLua(t *testing.T, script, uuid string, vars map[string]string, argv ...string) luaRun {
	t.Helper()
	stub, err := filepath.Abs("testdata/fs_stub.lua")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{stub, script, uuid}
	for k, v := range vars {
		args = append(args, k+"="+v)
	}
	args = append(append(args, "--"), argv...)
	cmd := exec.Command("lua5.4", args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := luaRun{set: map[string]string{}, exec: map[string]string{}}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), "\t", 3)
		switch f[0] {
		case "CURL":
			r.curls = append(r.curls, f[1])
			body := modCurl(t, f[1])
			if _, err := io.WriteString(stdin, strings.ReplaceAll(body, "\n", " ")+"\n"); err != nil {
				t.Fatal(err)
			}
		case "SET":
			r.set[f[1]] = f[2]
		case "EXEC":
			if r.exec[f[1]] != "" {
				r.exec[f[1]] += "|"
			}
			r.exec[f[1]] += f[2]
		}
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("lua: %v\n%s", err, stderr.String())
	}
	return r
}

// modCurl performs the request of mod_curl's "curl" API for its argument
// string (FreeSWITCH 1.10: url [content-type T] [connect-timeout S]
// [timeout S] [append_headers name:value]... [get|post DATA]; DATA is
// URL-decoded) and returns the response body, "" when there is none.
func modCurl(t *testing.T, args string) string {
	t.Helper()
	f := strings.Split(args, " ")
	target, method, data := f[0], "GET", ""
	var ctype string
	var headers [][2]string
	connect, total := 0, 0
	for i := 1; i < len(f); i++ {
		next := func() string {
			i++
			if i >= len(f) {
				t.Fatalf("mod_curl arguments %q: %s needs a value", args, f[i-1])
			}
			return f[i]
		}
		switch f[i] {
		case "content-type":
			ctype = next()
		case "connect-timeout":
			connect, _ = strconv.Atoi(next())
		case "timeout":
			total, _ = strconv.Atoi(next())
		case "append_headers":
			name, value, ok := strings.Cut(next(), ":")
			if !ok {
				t.Fatalf("append_headers without name:value in %q", args)
			}
			headers = append(headers, [2]string{name, value})
		case "get", "post", "put", "delete":
			method = strings.ToUpper(f[i])
			if i+1 < len(f) {
				d, err := url.PathUnescape(next())
				if err != nil {
					t.Fatalf("post data of %q: %v", args, err)
				}
				data = d
			}
		default:
			t.Fatalf("mod_curl arguments %q: unknown %q", args, f[i])
		}
	}
	if connect == 0 || total == 0 {
		t.Errorf("mod_curl call without connect-timeout and timeout (none by default): %q", args)
	}
	req, err := http.NewRequest(method, target, strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "freeswitch-curl/1.0")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for _, h := range headers {
		req.Header.Add(h[0], h[1])
	}
	client := &http.Client{
		Timeout:   time.Duration(total) * time.Second,
		Transport: &http.Transport{DialContext: (&net.Dialer{Timeout: time.Duration(connect) * time.Second}).DialContext},
	}
	resp, err := client.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// getTicket reads one ticket by its ID as the integrations carry it.
func getTicket(t *testing.T, e *edge, id string) ticketView {
	t.Helper()
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		t.Fatalf("ticket ID %q: %v", id, err)
	}
	var v ticketView
	code, b := e.do(t, "GET", "/edge/v1/tickets/"+id, nil)
	if code != 200 {
		t.Fatalf("ticket %s: %d %s", id, code, b)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("ticket %s: %v", id, err)
	}
	return v
}
