package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A wrong subcommand is refused before anything else (no config, no
// server needed), naming what the command takes.
func TestClusterRefusesUnknownSubcommands(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"add", "edge-d"}, {"remove"}, {"status", "extra"}} {
		err := runCluster(args)
		if err == nil || !strings.Contains(err.Error(), "want status, add NODE ADDR or remove NODE") {
			t.Errorf("cluster %v: %v", args, err)
		}
	}
}

// status against no server says so.
func TestClusterStatusWithoutServer(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "edge.toml")
	if err := os.WriteFile(cfg, []byte("[server]\nlisten = \"127.0.0.1:1\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := runCluster([]string{"-token", "t0123456789abcdef", "-config", cfg, "status"})
	if err == nil || !strings.Contains(err.Error(), "is enneo-edge running?") {
		t.Fatalf("status without a server: %v", err)
	}
}

// Flags after the subcommand's words are read too: remove NODE -config F
// reaches the config (and so the server it names), as the usage says.
func TestClusterFlagsAfterTheWords(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "edge.toml")
	if err := os.WriteFile(cfg, []byte("[server]\nlisten = \"127.0.0.1:1\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"remove", "edge-b", "-config", cfg, "-token", "t0123456789abcdef"},
		{"add", "-config", cfg, "edge-d", "127.0.0.1:8036", "-token", "t0123456789abcdef"},
		{"status", "-config", cfg, "-token", "t0123456789abcdef"},
	} {
		err := runCluster(args)
		if err == nil || !strings.Contains(err.Error(), "is enneo-edge running?") {
			t.Errorf("cluster %v: %v (want it to reach the server of the config)", args, err)
		}
	}
}

// status prints why the member is not ready and which peer it refused for
// other site.id/routing settings, beside the members.
func TestClusterStatusPrintsTheRefusal(t *testing.T) {
	var out strings.Builder
	raw := `{"node":"edge-c","role":"candidate","unhealthy":"cluster: this member reaches no quorum: candidate, no leader",` +
		`"refused":"cluster.peer edge-a (10.0.0.11:8006) has a different site.id or routing config: refused",` +
		`"members":[{"node":"edge-a","addr":"10.0.0.11:8006","suffrage":"Voter","lag":-1}]}`
	if err := printCluster(&out, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NOT READY: cluster: this member reaches no quorum",
		"REFUSED: cluster.peer edge-a (10.0.0.11:8006) has a different site.id or routing config", "unreachable"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status output lacks %q:\n%s", want, out.String())
		}
	}
}

// status says when the member's clock ran beyond the stamp bound ahead
// of the others', and says nothing for a small skew.
func TestClusterStatusPrintsAClockAhead(t *testing.T) {
	for _, c := range []struct {
		ahead int64
		want  bool
	}{{3_600_000, true}, {1500, false}, {-3_600_000, false}} {
		var out strings.Builder
		raw := fmt.Sprintf(`{"node":"edge-c","role":"leader","clockAheadMillis":%d,"members":[]}`, c.ahead)
		if err := printCluster(&out, []byte(raw)); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(out.String(), "CLOCK AHEAD: this member's clock ran 1h0m0s ahead"); got != c.want {
			t.Errorf("clockAheadMillis %d: printed %q", c.ahead, out.String())
		}
	}
}
