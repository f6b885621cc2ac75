package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// fakeServer is a real HTTP server on loopback that answers callReceived
// like an enneo server, after delay, and remembers every body.
type fakeServer struct {
	url    string
	delay  time.Duration
	status int
	count  atomic.Int64
	mu     sync.Mutex
	bodies []string
	auths  map[string]bool
}

func newFakeServer(t *testing.T, delay time.Duration, status int) *fakeServer {
	t.Helper()
	f := &fakeServer{delay: delay, status: status, auths: map[string]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		f.count.Add(1)
		f.mu.Lock()
		f.bodies = append(f.bodies, string(ctx.PostBody()))
		f.auths[string(ctx.Request.Header.Peek("Authorization"))] = true
		f.mu.Unlock()
		if string(ctx.Path()) != CallReceivedPath || !ctx.IsPost() {
			ctx.SetStatusCode(404)
			return
		}
		time.Sleep(f.delay)
		ctx.SetStatusCode(f.status)
		if f.status == 200 {
			ctx.SetBodyString(`{"success":true,"ticketId":1,"contractId":null,"customerId":null,"ioResponse":"x"}`)
		} else {
			ctx.SetBodyString(`{"success":false,"error":"try later"}`)
		}
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	f.url = "http://" + ln.Addr().String()
	return f
}

func TestOpenModelKeepsScheduleWhenTargetIsSlow(t *testing.T) {
	// 100 calls due over 200 ms, but the target takes 20 ms each and only 4
	// connections are allowed: it can serve 200/s, half the rate. A closed
	// model would send fewer calls or report 20 ms; the open model sends
	// every call and charges the queueing to latency.
	f := newFakeServer(t, 20*time.Millisecond, 200)
	r, err := Run(context.Background(), Target{Name: "slow", URL: f.url, Token: "tok"},
		Options{Rate: 500, Duration: 200 * time.Millisecond, Concurrency: 4, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.Planned != 100 || r.Sent != 100 || r.OK != 100 || f.count.Load() != 100 {
		t.Fatalf("planned %d sent %d ok %d served %d, want 100 each", r.Planned, r.Sent, r.OK, f.count.Load())
	}
	// The last call was due at ~198 ms and cannot have been answered before
	// 100 × 20 ms / 4 = 500 ms: at least ~300 ms after it was due.
	if r.Latency.Max < 250 {
		t.Errorf("max latency %.1f ms: queueing behind slow answers was hidden (coordinated omission)", r.Latency.Max)
	}
	if r.Latency.P50 < 20 {
		t.Errorf("p50 %.1f ms is below the server's own 20 ms", r.Latency.P50)
	}
}

func TestRequestCounts(t *testing.T) {
	// A 1 ms server and a timeout shorter than the run: the count, not the
	// timeout, decides when a run ends.
	f := newFakeServer(t, time.Millisecond, 200)
	tests := []struct {
		name string
		o    Options
		want int64
	}{
		// Both by-count runs last longer than the timeout by construction:
		// 900 × 1 ms over 3 connections, and 150 calls at 400/s.
		{"closed model, by count", Options{Rate: 0, Requests: 900, Concurrency: 3}, 900},
		{"closed model, by duration", Options{Rate: 0, Duration: 100 * time.Millisecond, Concurrency: 2}, -1},
		{"open model, by count", Options{Rate: 400, Requests: 150, Concurrency: 4}, 150},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Timeout = 250 * time.Millisecond
			r, err := Run(context.Background(), Target{URL: f.url}, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want > 0 && (r.Sent != tc.want || r.OK != tc.want || r.Planned != tc.want) {
				t.Fatalf("planned %d sent %d ok %d errors %v, want %d", r.Planned, r.Sent, r.OK, r.Errors, tc.want)
			}
			if tc.want < 0 && (r.OK == 0 || r.OK != r.Sent || r.Planned != r.Sent) {
				t.Fatalf("planned %d sent %d ok %d errors %v", r.Planned, r.Sent, r.OK, r.Errors)
			}
			if r.Throughput <= 0 {
				t.Errorf("throughput %v", r.Throughput)
			}
		})
	}
}

func TestBodiesAreRealisticAndUnique(t *testing.T) {
	f := newFakeServer(t, 0, 200)
	r, err := Run(context.Background(), Target{URL: f.url + "/api/mind", Token: "tok"},
		Options{Rate: 2000, Duration: 200 * time.Millisecond, Concurrency: 8, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK != 400 {
		t.Fatalf("ok %d, want 400: %v %v", r.OK, r.Errors, r.ErrorSamples)
	}
	seen := map[string]bool{}
	kinds := map[string]int{}
	for _, b := range f.bodies {
		var c map[string]any
		if err := json.Unmarshal([]byte(b), &c); err != nil {
			t.Fatalf("body is not JSON: %v: %s", err, b)
		}
		ch, _ := c["channelId"].(string)
		if ch == "" || seen[ch] {
			t.Fatalf("channelId %q missing or repeated", ch)
		}
		seen[ch] = true
		switch {
		case c["direction"] == "out" && c["to"] != nil:
			kinds["outbound"]++
		case c["routing"] == "native" && c["phone"] != nil:
			kinds["native"]++
		case c["routing"] == "external" && c["phone"] != nil && len(c["transcript"].([]any)) > 0:
			kinds["inbound"]++
		default:
			t.Fatalf("unexpected body %s", b)
		}
	}
	// 50/35/15 of 400, exact within one round of the interleaving.
	for k, want := range map[string]int{"inbound": 200, "native": 140, "outbound": 60} {
		if d := kinds[k] - want; d < -2 || d > 2 {
			t.Errorf("%s: %d bodies, want about %d", k, kinds[k], want)
		}
	}
	if !f.auths["Bearer tok"] || len(f.auths) != 1 {
		t.Errorf("authorization headers seen: %v", f.auths)
	}
	if r.Mix["inbound-external"] != int64(kinds["inbound"]) {
		t.Errorf("result mix %v, bodies %v", r.Mix, kinds)
	}
}

func TestErrorsByKind(t *testing.T) {
	f := newFakeServer(t, 0, 503)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	tests := []struct {
		name, url, kind string
	}{
		{"5xx", f.url, "http 503"},
		{"refused", deadURL, "connection refused"},
		{"wrong path is 404", f.url + "/elsewhere/callReceived", "http 404"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Run(context.Background(), Target{URL: tc.url}, Options{Rate: 500, Duration: 40 * time.Millisecond, Concurrency: 2, Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if r.OK != 0 || r.Errors[tc.kind] != 20 {
				t.Fatalf("ok %d errors %v, want 20 × %q", r.OK, r.Errors, tc.kind)
			}
			if r.ErrorSamples[tc.kind] == "" {
				t.Errorf("no sample for %q", tc.kind)
			}
		})
	}
}

func TestBadOptions(t *testing.T) {
	tests := []struct {
		name string
		url  string
		o    Options
		want string
	}{
		{"no scheme", "localhost:8005", Options{Rate: 1, Duration: time.Second, Concurrency: 1, Timeout: time.Second}, "scheme must be http or https"},
		{"negative rate", "http://x", Options{Rate: -1, Duration: time.Second, Concurrency: 1, Timeout: time.Second}, "rate: -1 is negative"},
		{"no concurrency", "http://x", Options{Rate: 1, Duration: time.Second, Timeout: time.Second}, "concurrency: 0 is less than 1"},
		{"no duration", "http://x", Options{Rate: 1, Concurrency: 1, Timeout: time.Second}, "duration: must be positive"},
		{"too short", "http://x", Options{Rate: 1, Duration: time.Millisecond, Concurrency: 1, Timeout: time.Second}, "plans no request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), Target{URL: tc.url}, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestResolveURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://h:8005", "http://h:8005/api/mind/telephony/callReceived"},
		{"http://h:8005/", "http://h:8005/api/mind/telephony/callReceived"},
		{"https://central.example/api/mind", "https://central.example/api/mind/telephony/callReceived"},
		{"https://c.example/tenant/api/mind/", "https://c.example/tenant/api/mind/telephony/callReceived"},
		{"http://h/api/mind/telephony/callReceived", "http://h/api/mind/telephony/callReceived"},
	}
	for _, tc := range tests {
		got, err := ResolveURL(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ResolveURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// resultOf builds a Result from known latencies, as Run does.
func resultOf(name string, lat []time.Duration) *Result {
	r := &Result{Name: name, URL: "http://x", Rate: 1000, Duration: time.Second, Concurrency: 8,
		Planned: int64(len(lat)), Sent: int64(len(lat)), OK: int64(len(lat)), Elapsed: time.Second,
		Errors: map[string]int64{}, hist: newHist(), lag: newHist()}
	for _, d := range lat {
		record(r.hist, d)
		record(r.lag, 0)
	}
	r.summarise()
	return r
}

func TestPercentilesOfKnownDistribution(t *testing.T) {
	// 1..10000 µs, one each: the p-th percentile is p·100 µs.
	var lat []time.Duration
	for i := 1; i <= 10000; i++ {
		lat = append(lat, time.Duration(i)*time.Microsecond)
	}
	r := resultOf("uniform", lat)
	for _, c := range []struct{ got, want float64 }{
		{r.Latency.P50, 5}, {r.Latency.P90, 9}, {r.Latency.P99, 9.9}, {r.Latency.P999, 9.99}, {r.Latency.Max, 10},
	} {
		// HDR keeps 3 significant digits: within 0.1 %.
		if d := c.got/c.want - 1; d < -0.001 || d > 0.001 {
			t.Errorf("got %.4f ms, want %.4f ms", c.got, c.want)
		}
	}
	if r.Throughput != 10000 {
		t.Errorf("throughput %v", r.Throughput)
	}
	// The curve climbs and ends at the maximum.
	last := r.Curve[len(r.Curve)-1]
	if last.Ms != r.Latency.Max || last.Percentile < 99.98 {
		t.Errorf("curve ends at %+v, max %v", last, r.Latency.Max)
	}
	for i := 1; i < len(r.Curve); i++ {
		if r.Curve[i].Percentile <= r.Curve[i-1].Percentile || r.Curve[i].Ms < r.Curve[i-1].Ms {
			t.Fatalf("curve not increasing at %d: %+v %+v", i, r.Curve[i-1], r.Curve[i])
		}
	}
}

func TestTextJSONAndSVGReports(t *testing.T) {
	var a, b []time.Duration
	for i := 1; i <= 1000; i++ {
		a = append(a, time.Duration(i)*time.Microsecond)
		b = append(b, time.Duration(i)*3*time.Microsecond)
	}
	ra, rb := resultOf("edge", a), resultOf("central", b)
	rb.Errors["http 503"] = 2
	rb.ErrorSamples = map[string]string{"http 503": `{"success":false}`}

	var text bytes.Buffer
	if err := WriteText(&text, []*Result{ra, rb}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"edge", "central", "latency p99.9", "0.999 ms", "2.97 ms", "1000 calls/s", "  http 503", "central, first http 503"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}

	var js bytes.Buffer
	if err := WriteJSON(&js, []*Result{ra, rb}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []struct {
			Name       string             `json:"name"`
			OK         int64              `json:"ok"`
			Throughput float64            `json:"throughputPerSecond"`
			Errors     map[string]int64   `json:"errors"`
			Latency    map[string]float64 `json:"latencyMs"`
			Curve      []CurvePoint       `json:"curve"`
		} `json:"results"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Results) != 2 || doc.Results[1].Name != "central" || doc.Results[1].Errors["http 503"] != 2 ||
		doc.Results[0].Latency["p99"] != ra.Latency.P99 || doc.Results[0].OK != 1000 || len(doc.Results[0].Curve) == 0 {
		t.Errorf("json %s", js.String())
	}

	var svg bytes.Buffer
	if err := WriteSVG(&svg, "callReceived <test>", []*Result{ra, rb}); err != nil {
		t.Fatal(err)
	}
	s := svg.String()
	if strings.Count(s, "<polyline") != 2 {
		t.Errorf("want one curve per target:\n%s", s)
	}
	for _, want := range []string{"percentile (log scale", "latency (ms", ">99%<", ">99.9%<", ">50%<", "edge: p50", "central: p50", "callReceived &lt;test&gt;"} {
		if !strings.Contains(s, want) {
			t.Errorf("svg lacks %q", want)
		}
	}
}

func TestParseMix(t *testing.T) {
	good := "# comment\n{\"name\":\"a\",\"weight\":3,\"body\":{\"routing\":\"native\",\"phone\":\"+4930123\"}}\n\n{\"weight\":1,\"body\":{\"channelId\":\"fixed\"}}\n"
	m, err := ParseMix(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Entries) != 2 || m.Entries[0].Name != "a" || m.Entries[1].Name != "line-4" {
		t.Fatalf("entries %+v", m.Entries)
	}
	bs, err := newBodies(m, 1, "p-")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := bs.appendBody(nil, 7)
	if !bytes.Contains(body, []byte(`"channelId":"p-7"`)) {
		t.Errorf("channelId not replaced: %s", body)
	}
	bad := []struct{ in, want string }{
		{`{"weight":1}`, "mix line 1: body: missing"},
		{`{"body":{}}`, "mix line 1: weight: missing"},
		{"\n{\"weight\":0,\"body\":{}}", "mix line 2: weight: 0 is not positive"},
		{`{"weight":1,"body":[1]}`, "mix line 1: json: cannot unmarshal array"},
		{"# only a comment\n", "mix: no entries"},
	}
	for _, tc := range bad {
		if _, err := ParseMix(strings.NewReader(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseMix(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestVegetaTargets(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteVegetaTargets(&buf, Target{URL: "http://h:1", Token: "tok"}, nil, 1, 5); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines", len(lines))
	}
	var tg struct {
		Method, URL string
		Body        []byte
		Header      map[string][]string
	}
	if err := json.Unmarshal([]byte(lines[4]), &tg); err != nil {
		t.Fatal(err)
	}
	if tg.Method != "POST" || tg.URL != "http://h:1"+CallReceivedPath || tg.Header["Authorization"][0] != "Bearer tok" || !bytes.Contains(tg.Body, []byte(`4"`)) {
		t.Errorf("target %+v body %s", tg, tg.Body)
	}
}

func TestClassifyAnswers(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		want       string
	}{
		{"edge answer", `{"success":true,"ticketId":1000100000000001,"contractId":null}`, 200, ""},
		{"pretty-printed central answer", "{\n  \"success\" : true,\n  \"ticketId\": 42\n}", 200, ""},
		{"201 is success too", `{"success":true,"ticketId":42}`, 201, ""},
		{"success false", `{"success":false,"ticketId":42}`, 200, "bad answer (2xx without success:true and ticketId)"},
		{"no ticket", `{"success":true}`, 200, "bad answer (2xx without success:true and ticketId)"},
		{"key in a value first", `{"note":"\"success\"","success":true,"ticketId":1}`, 200, ""},
		{"503", `{"success":false,"error":"database: commit timed out"}`, 503, "http 503"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var resp fasthttp.Response
			resp.SetStatusCode(tc.status)
			resp.SetBodyString(tc.body)
			if got := classify(&resp, nil); got != tc.want {
				t.Errorf("classify = %q, want %q", got, tc.want)
			}
		})
	}
}
