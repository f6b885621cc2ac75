package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// enneoLike answers callReceived as any enneo server does, and 401 without
// the token.
func enneoLike(t *testing.T, token string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
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
	err := benchCommand([]string{"-url", a, "-token", "tok-a", "-name", "edge", "-compare", b, "-token2", "tok-b", "-name2", "central",
		"-rate", "500", "-duration", "100ms", "-concurrency", "4", "-json", "-out", plot}, &out)
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
	if err := benchCommand([]string{"-url", a, "-rate", "200", "-duration", "100ms"}, &out); err != nil {
		t.Fatal(err)
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
		{[]string{}, "-url is required"},
		{[]string{"-url", "ftp://x"}, "scheme must be http or https"},
		{[]string{"-url", "http://x", "-mix", "/nonexistent/mix.jsonl"}, "-mix: open /nonexistent/mix.jsonl"},
		{[]string{"-url", "http://x", "extra"}, "unexpected arguments: extra"},
		{[]string{"-url", "http://x", "-concurrency", "0"}, "concurrency: 0 is less than 1"},
	}
	for _, tc := range tests {
		err := benchCommand(tc.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("bench %v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
