package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"
)

// enneoLike answers callReceived as any enneo server does, and 401 without
// the token.
func enneoLike(t *testing.T, token string) string {
	t.Helper()
	return enneoRecording(t, token, nil)
}

// bodies are the requests a fake target received.
type bodies struct {
	mu  sync.Mutex
	got []map[string]any
}

// enneoRecording is enneoLike, keeping every body it was sent in rec.
func enneoRecording(t *testing.T, token string, rec *bodies) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if rec != nil {
			var b map[string]any
			_ = json.Unmarshal(ctx.PostBody(), &b)
			rec.mu.Lock()
			rec.got = append(rec.got, b)
			rec.mu.Unlock()
		}
		if string(ctx.Request.Header.Peek("Authorization")) != "Bearer "+token {
			ctx.SetStatusCode(401)
			ctx.SetBodyString(`{"success":false,"error":"invalid credentials"}`)
			return
		}
		ctx.SetBodyString(`{"success":true,"ticketId":1,"contractId":null,"customerId":null,"ioResponse":"x"}`)
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

func TestBenchCommandCompareJSONAndPlot(t *testing.T) {
	a, b := enneoLike(t, "tok-a"), enneoLike(t, "tok-b")
	plot := filepath.Join(t.TempDir(), "plot.svg")
	var out bytes.Buffer
	err := benchCommand([]string{"-against-live", "-url", a, "-token", "tok-a", "-name", "edge", "-compare", b, "-token2", "tok-b", "-name2", "central",
		"-rate", "500", "-duration", "100ms", "-concurrency", "4", "-json", "-out", plot}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []struct {
			Name   string           `json:"name"`
			OK     int64            `json:"ok"`
			Errors map[string]int64 `json:"errors"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if len(doc.Results) != 2 || doc.Results[0].Name != "edge" || doc.Results[1].Name != "central" ||
		doc.Results[0].OK != 50 || doc.Results[1].OK != 50 {
		t.Fatalf("results %+v", doc.Results)
	}
	svg, err := os.ReadFile(plot)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(svg), "<polyline") != 2 || !strings.Contains(string(svg), "central: p50") {
		t.Errorf("plot lacks a curve per target")
	}
}

func TestBenchCommandText(t *testing.T) {
	a := enneoLike(t, "tok")
	var out bytes.Buffer
	// Every call is refused: the report still shows why, and the run fails.
	err := benchCommand([]string{"-against-live", "-url", a, "-rate", "200", "-duration", "100ms"}, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "most calls failed (0 ok of 20)") {
		t.Fatalf("a run of 401s: %v", err)
	}
	for _, want := range []string{"latency p99 ", "20 sent of 20", "http 401", "invalid credentials"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBenchCommandBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-url", "http://x"}, "add -against-live"},
		{[]string{"-compare", "http://x"}, "add -against-live"},
		{[]string{"-agents"}, "-agents only applies with -against-live"},
		{[]string{"-against-live", "-url", "ftp://x"}, "scheme must be http or https"},
		{[]string{"-against-live", "-url", "http://x", "-mix", "/nonexistent/mix.jsonl"}, "-mix: open /nonexistent/mix.jsonl"},
		{[]string{"-against-live", "-url", "http://x", "extra"}, "unexpected arguments: extra"},
		{[]string{"-against-live", "-url", "http://x", "-concurrency", "0"}, "concurrency: 0 is less than 1"},
		{[]string{"-vegeta-targets", "x.json"}, "-vegeta-targets needs -url"},
	}
	for _, tc := range tests {
		err := benchCommand(tc.args, &bytes.Buffer{}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("bench %v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// Against a URL the generator sends only inbound routing-none calls under
// the reserved channelId prefix, naming no agent, and says so first.
func TestBenchAgainstLiveWritesOnlyClosedTickets(t *testing.T) {
	rec := &bodies{}
	a := enneoRecording(t, "tok", rec)
	var out, errOut bytes.Buffer
	if err := benchCommand([]string{"-against-live", "-url", a, "-token", "tok", "-rate", "500", "-duration", "100ms"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "bench will write to target ("+a+"): up to 50 callReceived calls (inbound-none), each creating a ticket with channelId enneo-bench-") {
		t.Errorf("no warning before the run:\n%s", errOut.String())
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.got) != 50 {
		t.Fatalf("%d calls sent, want 50", len(rec.got))
	}
	for _, b := range rec.got {
		ch, _ := b["channelId"].(string)
		if b["routing"] != "none" || b["direction"] != "in" || !strings.HasPrefix(ch, "enneo-bench-") {
			t.Fatalf("unsafe call sent to a live target: %v", b)
		}
		for _, f := range []string{"userId", "agentId", "triggeredBy", "aiAgentId"} {
			if _, ok := b[f]; ok {
				t.Fatalf("call names an agent: %v", b)
			}
		}
	}
}

func TestBenchAgainstLiveRefusesUnsafeMix(t *testing.T) {
	dir := t.TempDir()
	mix := filepath.Join(dir, "mix.jsonl")
	lines := `{"name":"native","weight":1,"body":{"routing":"native","phone":"+4930123"}}
{"name":"agent","weight":1,"body":{"routing":"none","userId":7}}
`
	if err := os.WriteFile(mix, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	err := benchCommand([]string{"-against-live", "-url", "http://127.0.0.1:1", "-mix", mix}, io.Discard, io.Discard)
	for _, want := range []string{"native: routing native", "agent: userId names an agent (add -agents to allow)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("unsafe mix: %v, want %q", err, want)
		}
	}
	// -agents allows the agent, never the queued call.
	err = benchCommand([]string{"-against-live", "-agents", "-url", "http://127.0.0.1:1", "-mix", mix}, io.Discard, io.Discard)
	if err == nil || strings.Contains(err.Error(), "userId") || !strings.Contains(err.Error(), "routing native") {
		t.Errorf("-agents: %v", err)
	}
}

// Without -url bench measures an appliance of its own and removes it.
func TestBenchWithoutURLMeasuresAPrivateAppliance(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := benchCommand([]string{"-rate", "200", "-duration", "250ms", "-json"}, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var doc struct {
		Results []struct {
			Name   string           `json:"name"`
			OK     int64            `json:"ok"`
			Errors map[string]int64 `json:"errors"`
			Mix    map[string]int64 `json:"mix"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if len(doc.Results) != 1 || doc.Results[0].Name != "private" || doc.Results[0].OK != 50 || doc.Results[0].Mix["inbound-native"] == 0 {
		t.Fatalf("results %+v", doc.Results)
	}
	m := regexp.MustCompile(`temporary database \((\S+)\), removed afterwards`).FindStringSubmatch(errOut.String())
	if m == nil {
		t.Fatalf("no word of the private appliance:\n%s", errOut.String())
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("temporary database %s left behind: %v", m[1], err)
	}
}

// A PNG plot needs rsvg-convert; without it bench refuses before it runs.
func TestBenchPNGWithoutConverterFailsFirst(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	rec := &bodies{}
	a := enneoRecording(t, "tok", rec)
	err := benchCommand([]string{"-against-live", "-url", a, "-token", "tok", "-duration", "100ms", "-out", filepath.Join(t.TempDir(), "x.png")}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "needs rsvg-convert") {
		t.Fatalf("png without converter: %v", err)
	}
	if len(rec.got) != 0 {
		t.Errorf("%d calls sent before the refusal", len(rec.got))
	}
}

// A scratch server of one's own gets the realistic default mix.
func TestBenchDisposableSendsTheDefaultMix(t *testing.T) {
	rec := &bodies{}
	a := enneoRecording(t, "tok", rec)
	if err := benchCommand([]string{"-disposable", "-url", a, "-token", "tok", "-rate", "500", "-duration", "100ms"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	routings := map[any]int{}
	for _, b := range rec.got {
		routings[b["routing"]]++
	}
	if routings["native"] == 0 || routings["external"] == 0 {
		t.Errorf("routings sent: %v", routings)
	}
	if err := benchCommand([]string{"-disposable", "-against-live", "-url", a}, io.Discard, io.Discard); err == nil {
		t.Error("-disposable with -against-live accepted")
	}
}
