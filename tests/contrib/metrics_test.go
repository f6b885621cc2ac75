// Package contrib checks the operator files in contrib/ against a running
// appliance: every metric the Prometheus alerts and the Grafana dashboard
// query is one the real binary exports on /metrics.
package contrib

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/edgetest"
)

const token = "contrib-test-token-0123456789abcdef"

var binary string

func TestMain(m *testing.M) { edgetest.Main(m, "../..", &binary) }

// metricName finds the edge's metric names in a PromQL expression; the
// label values and functions around them never start with "edge_".
var metricName = regexp.MustCompile(`\bedge_[a-z0-9_]+\b`)

func TestContribMetricsAreExported(t *testing.T) {
	used := map[string][]string{} // metric -> where it is used
	for _, e := range alertExprs(t, "../../contrib/prometheus/alerts.yml") {
		for _, m := range metricName.FindAllString(e.expr, -1) {
			used[m] = append(used[m], "alerts.yml "+e.where)
		}
	}
	for _, e := range dashboardExprs(t, "../../contrib/grafana/enneo-edge.json") {
		for _, m := range metricName.FindAllString(e.expr, -1) {
			used[m] = append(used[m], "enneo-edge.json "+e.where)
		}
	}
	if len(used) < 15 {
		t.Fatalf("only %d metrics found in the alerts and the dashboard: is the parsing broken?", len(used))
	}

	exported := scrape(t)
	var missing []string
	for m, where := range used {
		if !exported[m] {
			missing = append(missing, fmt.Sprintf("%s (%s)", m, strings.Join(where, ", ")))
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("not exported by a running enneo-edge: %s", m)
	}
}

// scrape runs the binary with an upstream, makes it answer a call and
// forward it (so that the series that appear on first use exist), and
// returns the sample names on /metrics.
func scrape(t *testing.T) map[string]bool {
	var forwarded atomic.Int64
	central := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		forwarded.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"success":true}`))
	}))
	t.Cleanup(central.Close)

	dir := t.TempDir()
	addr := edgetest.FreeAddr(t)
	cfg := filepath.Join(dir, "enneo-edge.toml")
	err := os.WriteFile(cfg, []byte(fmt.Sprintf(`[server]
listen = %q
[storage]
path = %q
[auth]
tokens = [%q]
[upstream]
url = %q
token = "contrib-central-token-0123456789"
`, addr, filepath.Join(dir, "edge.db"), token, central.URL+"/api/mind")), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	edge := edgetest.Start(t, binary, cfg)

	req, _ := http.NewRequest(http.MethodPost, edge.URL+"/api/mind/telephony/callReceived",
		strings.NewReader(`{"routing":"none","channelId":"contrib-1","phone":"+494012345678"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("callReceived: %d %s", resp.StatusCode, body)
	}

	deadline := time.Now().Add(20 * time.Second)
	for {
		names, raw := metricsNow(t, edge.URL)
		if names["edge_upstream_responses_total"] || time.Now().After(deadline) {
			if !names["edge_upstream_responses_total"] {
				t.Logf("nothing forwarded after 20 s (%d requests at central):\n%s", forwarded.Load(), raw)
			}
			return names
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func metricsNow(t *testing.T, base string) (map[string]bool, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		names[name] = true
	}
	return names, raw
}

type expr struct{ where, expr string }

// alertExprs reads the expr of every rule. The file is YAML; the rules
// use a plain one-line expr or a block scalar (expr: |), which is all this
// reads (promtool in .ci/run checks the file as Prometheus parses it).
func alertExprs(t *testing.T, path string) []expr {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		out   []expr
		alert string
		block *expr
		depth int
	)
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if block != nil {
			if trimmed == "" || indent > depth {
				block.expr += trimmed + "\n"
				continue
			}
			out = append(out, *block)
			block = nil
		}
		switch {
		case strings.HasPrefix(trimmed, "- alert:"):
			alert = strings.TrimSpace(strings.TrimPrefix(trimmed, "- alert:"))
		case strings.HasPrefix(trimmed, "expr:"):
			v := strings.TrimSpace(strings.TrimPrefix(trimmed, "expr:"))
			if v == "|" || v == ">" {
				block, depth = &expr{where: alert}, indent
				continue
			}
			out = append(out, expr{alert, v})
		}
	}
	if block != nil {
		out = append(out, *block)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no rule expressions", path)
	}
	return out
}

// dashboardExprs reads every panel target's expr.
func dashboardExprs(t *testing.T, path string) []expr {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type source struct {
		UID string `json:"uid"`
	}
	var d struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Inputs []struct {
			Name string `json:"name"`
		} `json:"__inputs"`
		Panels []struct {
			ID         int     `json:"id"`
			Title      string  `json:"title"`
			Datasource *source `json:"datasource"`
			GridPos    *struct {
				W, H int
			} `json:"gridPos"`
			Targets []struct {
				Expr       string  `json:"expr"`
				Datasource *source `json:"datasource"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	// Importable: Grafana asks for the data source named in __inputs and
	// substitutes it wherever ${DS_PROMETHEUS} stands.
	if d.Title == "" || d.UID == "" || len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" {
		t.Errorf("%s: want a title, a uid and the one input DS_PROMETHEUS", path)
	}
	var out []expr
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("%s: panel %q queries nothing", path, p.Title)
		}
		if ids[p.ID] || p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("%s: panel %q: duplicate id %d or no size", path, p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.Datasource == nil || p.Datasource.UID != "${DS_PROMETHEUS}" {
			t.Errorf("%s: panel %q does not use the imported data source", path, p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != "${DS_PROMETHEUS}" {
				t.Errorf("%s: a query of panel %q does not use the imported data source", path, p.Title)
			}
			out = append(out, expr{"panel " + p.Title, tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		out = append(out, expr{"variable", v.Definition})
	}
	return out
}
