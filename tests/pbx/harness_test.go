// Package pbx runs the shipped PBX integrations against the real enneo-edge
// binary: Kamailio with integrations/kamailio/kamailio.cfg between sipp
// callers and sipp next hops (kamailio_test.go), and the HTTP exchanges of
// the Asterisk and FreeSWITCH configs replayed byte for byte
// (replay_test.go).
package pbx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/edgetest"
)

const (
	token  = "pbx-test-token-0123456789"
	siteID = 3
	// Ticket IDs are 10^15 + site·10^11 + n, n counting from 1.
	firstTicket = 1_000_000_000_000_000 + siteID*100_000_000_000 + 1
)

var binary string

func TestMain(m *testing.M) { edgetest.Main(m, "../..", &binary) }

// needTools skips the test when one of the programs is missing, except in
// CI (CI=true), where .ci/run installs them and a missing one is a failure.
func needTools(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed (CI=true: .ci/run installs it)", n)
			}
			t.Skipf("%s not installed", n)
		}
	}
}

// edge is one running enneo-edge process.
type edge struct {
	*edgetest.Proc
	token string
}

// startEdge runs the binary on a new database in dir, on a free loopback
// port, accepting tok.
func startEdge(t *testing.T, dir, tok string) *edge {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "enneo-edge.toml")
	body := fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = %q\n[site]\nid = %d\n[auth]\ntokens = [%q]\n",
		filepath.Join(dir, "edge.db"), siteID, tok)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return &edge{Proc: edgetest.Start(t, binary, cfg), token: tok}
}

// do sends one request with the edge's token and returns status and body.
func (e *edge) do(t *testing.T, method, path string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// ticketView is the part of GET /edge/v1/tickets/{id} the tests read.
type ticketView struct {
	Ticket struct {
		ID        int64  `json:"id"`
		ChannelID string `json:"channelId"`
		From      string `json:"from"`
		AgentID   *int64 `json:"agentId"`
		Events    []struct {
			Type string `json:"type"`
		} `json:"events"`
	} `json:"ticket"`
}

func (v ticketView) has(event string) bool {
	for _, e := range v.Ticket.Events {
		if e.Type == event {
			return true
		}
	}
	return false
}

// tickets reads every ticket of the edge in ID order: IDs are dense, so
// the walk ends at the first 404.
func (e *edge) tickets(t *testing.T) []ticketView {
	t.Helper()
	var all []ticketView
	for id := int64(firstTicket); ; id++ {
		code, b := e.do(t, "GET", "/edge/v1/tickets/"+strconv.FormatInt(id, 10), nil)
		if code == 404 {
			return all
		}
		if code != 200 {
			t.Fatalf("ticket %d: %d %s", id, code, b)
		}
		var v ticketView
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("ticket %d: %v in %s", id, err, b)
		}
		all = append(all, v)
	}
}

// requests is edge_http_requests_total for a route and status code.
func (e *edge) requests(t *testing.T, route string, code int) int {
	t.Helper()
	status, b := e.do(t, "GET", "/metrics", nil)
	if status != 200 {
		t.Fatalf("metrics: %d %s", status, b)
	}
	re := regexp.MustCompile(`(?m)^edge_http_requests_total\{route="` + regexp.QuoteMeta(route) +
		`",code="` + strconv.Itoa(code) + `"\} (\d+)$`)
	m := re.FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// freeUDPPort returns a loopback UDP port that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// closedTCPURL returns an http:// URL on a loopback port nobody listens on:
// an edge whose process is down.
func closedTCPURL(t *testing.T) string {
	t.Helper()
	return "http://" + edgetest.FreeAddr(t)
}

// silentListener accepts connections and never answers: an edge that is
// wedged, or a host whose TCP stack lives but whose service does not. It
// returns the URL and a counter of accepted connections.
func silentListener(t *testing.T) (string, func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1024)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case c := <-accepted:
				c.Close()
			default:
				return
			}
		}
	})
	return "http://" + ln.Addr().String(), func() int { return len(accepted) }
}

// proc is a child process (Kamailio or sipp) ended when the test ends.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	out  *edgetest.Buffer
}

func startProc(t *testing.T, dir, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	p := &proc{cmd: cmd, done: make(chan struct{}), out: new(edgetest.Buffer)}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop() })
	return p
}

// stop ends the process with SIGTERM (Kamailio's main process then ends
// its workers), SIGKILL after 5 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kamailioSettings are the values the test puts into the site-settings
// block of the shipped config; nothing else of it changes.
type kamailioSettings struct {
	listenPort            int
	primary, secondary    string // edge base URLs
	token                 string
	nextHopPort, failPort int
}

// writeKamailioConfig copies integrations/kamailio/kamailio.cfg into dir
// with the site settings replaced, failing if one of them is not where
// the shipped file has it.
func writeKamailioConfig(t *testing.T, dir string, s kamailioSettings) string {
	t.Helper()
	b, err := os.ReadFile("../../integrations/kamailio/kamailio.cfg")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for name, value := range map[string]string{
		"SIP_LISTEN":     fmt.Sprintf("udp:127.0.0.1:%d", s.listenPort),
		"EDGE_PRIMARY":   s.primary,
		"EDGE_SECONDARY": s.secondary,
		"EDGE_TOKEN":     s.token,
		"NEXT_HOP":       fmt.Sprintf("sip:127.0.0.1:%d", s.nextHopPort),
		"FAILOPEN_HOP":   fmt.Sprintf("sip:127.0.0.1:%d", s.failPort),
	} {
		re := regexp.MustCompile(`(?m)^#!substdef "!` + name + `!([^!]*)!g"$`)
		if len(re.FindAllString(cfg, -1)) != 1 {
			t.Fatalf("kamailio.cfg: no single #!substdef line for %s", name)
		}
		cfg = re.ReplaceAllLiteralString(cfg, `#!substdef "!`+name+`!`+value+`!g"`)
	}
	path := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startKamailio checks the config (kamailio -c), runs Kamailio in the
// foreground and waits until it answers OPTIONS.
func startKamailio(t *testing.T, dir string, s kamailioSettings) *proc {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := writeKamailioConfig(t, dir, s)
	if out, err := exec.Command("kamailio", "-c", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("kamailio -c: %v\n%s", err, out)
	}
	// -DD: stay in the foreground with the workers; -E: log to stderr;
	// -Y: runtime directory of our own (not /run/kamailio).
	p := startProc(t, dir, "kamailio", "-f", cfg, "-DD", "-E", "-Y", dir, "-P", filepath.Join(dir, "kamailio.pid"), "-m", "64", "-M", "8")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kamailio's log, last lines:\n%s", lastLines(p.out.String(), 60))
		}
	})
	addr := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: s.listenPort}
	deadline := time.Now().Add(15 * time.Second)
	for !sipOptionsOK(addr) {
		select {
		case <-p.done:
			t.Fatalf("kamailio exited at start: %v\n%s", p.err, p.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("kamailio does not answer OPTIONS\n%s", p.out)
		}
	}
	return p
}

// sipOptionsOK sends one OPTIONS and reports whether a 200 came back.
func sipOptionsOK(addr *net.UDPAddr) bool {
	c, err := net.DialUDP("udp", nil, addr)
	if err != nil {
		return false
	}
	defer c.Close()
	local := c.LocalAddr().String()
	msg := "OPTIONS sip:ping@" + addr.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-ping-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "\r\n" +
		"From: <sip:test@" + local + ">;tag=ping\r\nTo: <sip:ping@" + addr.String() + ">\r\n" +
		"Call-ID: ping-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.Write([]byte(msg)); err != nil {
		return false
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	return err == nil && strings.HasPrefix(string(buf[:n]), "SIP/2.0 200")
}

// startUAS runs a sipp next hop with one of the testdata scenarios.
func startUAS(t *testing.T, dir, scenario string, port int) *proc {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	sf, err := filepath.Abs(filepath.Join("testdata", scenario))
	if err != nil {
		t.Fatal(err)
	}
	return startProc(t, dir, "sipp", "-sf", sf, "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-nostdin", "-trace_err")
}

// callerID is the format of sipp's Call-IDs (-cid_str): call number, pid.
// The double quote and backslash, legal in a Call-ID, must reach the edge
// intact as channelId (the config builds its JSON with jansson).
const callerID = `%u-%p"q\x@enneo.test`

// uacRun is the result of one sipp caller run.
type uacRun struct {
	pid      int
	setupsMS []int // INVITE → 200 OK of each call, in ms (sipp's resolution)
	exitErr  error
	out      string
}

// callIDs are the Call-IDs the run used, calls numbered from 1.
func (r uacRun) callIDs(n int) map[string]bool {
	ids := make(map[string]bool, n)
	for i := 1; i <= n; i++ {
		id := strings.ReplaceAll(callerID, "%u", strconv.Itoa(i))
		ids[strings.ReplaceAll(id, "%p", strconv.Itoa(r.pid))] = true
	}
	return ids
}

// runUAC places calls from a sipp caller through Kamailio at rate calls/s
// and waits for the run to end.
func runUAC(t *testing.T, dir, scenario string, kamailioPort, calls int, rate float64) uacRun {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	sf, err := filepath.Abs(filepath.Join("testdata", scenario))
	if err != nil {
		t.Fatal(err)
	}
	p := startProc(t, dir, "sipp", fmt.Sprintf("127.0.0.1:%d", kamailioPort), "-sf", sf,
		"-i", "127.0.0.1", "-p", strconv.Itoa(freeUDPPort(t)),
		"-m", strconv.Itoa(calls), "-r", strconv.FormatFloat(rate, 'f', -1, 64), "-l", "1000",
		"-cid_str", callerID, "-nostdin", "-timeout", "120s", "-timeout_error",
		// A late provisional reply (the proxy's answer to a retransmission,
		// overtaken by the 200 OK) is ignored, as a phone ignores it; a
		// wrong final reply still fails the call (no 200 OK in time).
		"-default_behaviors", "all,-abortunexp",
		"-trace_err", "-trace_rtt", "-rtt_freq", "1")
	<-p.done
	r := uacRun{pid: p.cmd.Process.Pid, exitErr: p.err, out: p.out.String()}
	name := strings.TrimSuffix(scenario, ".xml")
	// No file when no call was answered: mustSucceed reports that.
	csv, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%s_%d_rtt.csv", name, r.pid)))
	for _, line := range strings.Split(string(csv), "\n") {
		f := strings.Split(strings.TrimSpace(line), ";")
		if len(f) != 3 || f[2] != "setup" {
			continue
		}
		ms, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			t.Fatalf("rtt line %q: %v", line, err)
		}
		r.setupsMS = append(r.setupsMS, int(ms))
	}
	return r
}

// mustSucceed fails the test unless sipp ended with every call successful,
// showing its error log otherwise.
func (r uacRun) mustSucceed(t *testing.T, dir string, calls int) {
	t.Helper()
	if r.exitErr != nil || len(r.setupsMS) != calls {
		logs, _ := filepath.Glob(filepath.Join(dir, "*_errors.log"))
		var errs string
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			if len(b) > 4000 {
				b = b[:4000]
			}
			errs += l + ":\n" + string(b) + "\n"
		}
		t.Fatalf("sipp: %v, %d of %d calls answered\n%s\n%s", r.exitErr, len(r.setupsMS), calls, lastLines(r.out, 30), errs)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
