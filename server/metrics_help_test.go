package server

import (
	"regexp"
	"strings"
	"testing"
)

// Every family has a HELP text and a TYPE, written before its samples, as
// Prometheus expects; the Go runtime, the process and the build are there.
func TestMetricsHaveHelpAndType(t *testing.T) {
	e := newEnv(t)
	e.do("POST", callReceivedPath, `{"phone":"030 1234567"}`)
	e.do("GET", "/edge/v1/status", "", "Authorization", "Bearer wrong")
	text := e.scrape()
	help := map[string]bool{}
	typ := map[string]string{}
	sample := regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? \S+$`)
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		switch {
		case strings.HasPrefix(line, "# HELP "):
			f := strings.SplitN(strings.TrimPrefix(line, "# HELP "), " ", 2)
			if len(f) != 2 || strings.TrimSpace(f[1]) == "" {
				t.Errorf("HELP without text: %q", line)
			}
			help[f[0]] = true
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(strings.TrimPrefix(line, "# TYPE "))
			typ[f[0]] = f[1]
		default:
			m := sample.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("not a sample line: %q", line)
				continue
			}
			fam := m[1]
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(fam, suffix); ok && (typ[base] == "histogram" || typ[base] == "summary") {
					fam = base
				}
			}
			if !help[fam] || typ[fam] == "" {
				t.Errorf("%s: sample before (or without) its HELP and TYPE", fam)
			}
		}
	}
	for _, want := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes", "edge_http_refused_total"} {
		if typ[want] == "" {
			t.Errorf("no %s", want)
		}
	}
	if !regexp.MustCompile(`(?m)^edge_build_info\{version="dev",commit="unknown",goversion="go[^"]+"\} 1$`).MatchString(text) {
		t.Errorf("no edge_build_info:\n%s", text)
	}
	if typ["edge_http_requests_total"] != "counter" || typ["edge_http_request_duration_seconds"] != "histogram" || typ["edge_outbox_pending"] != "gauge" {
		t.Errorf("types %v", typ)
	}
}
