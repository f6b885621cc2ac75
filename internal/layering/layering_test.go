package layering

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/enneo-edge/enneo-edge"

// pkg is what `go list -json` says about one package.
type pkg struct {
	ImportPath   string
	Deps         []string // every package it depends on, transitively
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// rule forbids the packages under From (From itself included) to reach the
// packages that forbidden matches.
type rule struct {
	from string
	why  string
	// transitive checks Deps (what the package pulls in at all) besides
	// the imports its own files write, tests included.
	transitive bool
	forbidden  func(path string) bool
}

var rules = []rule{
	{
		from:       module + "/db/engine",
		why:        "the storage engine knows nothing of the domain: it may import no package of this module but its own",
		transitive: true,
		forbidden: func(p string) bool {
			return (p == module || strings.HasPrefix(p, module+"/")) && !under(p, module+"/db/engine")
		},
	},
	{
		from: module + "/callflow",
		why: "the call domain decides on what db's transaction API hands it: it may reach model and routing, " +
			"never storage (db, bbolt), HTTP (server) or central (upstream)",
		transitive: true,
		forbidden: func(p string) bool {
			if under(p, "go.etcd.io/bbolt") {
				return true
			}
			own := p == module || strings.HasPrefix(p, module+"/")
			return own && !under(p, module+"/callflow") && !under(p, module+"/model") && !under(p, module+"/routing")
		},
	},
	{
		from:       module + "/routing",
		why:        "routing/ is the distributor's pure decisions: it may use model's types and constants, nothing else of the module",
		transitive: true,
		forbidden: func(p string) bool {
			own := p == module || strings.HasPrefix(p, module+"/")
			return under(p, "go.etcd.io/bbolt") || (own && !under(p, module+"/routing") && !under(p, module+"/model"))
		},
	},
	{
		from:      module + "/server",
		why:       "server/ is HTTP only: it reaches the file through db, never through bbolt, and the cluster through cluster's Status, never raft",
		forbidden: func(p string) bool { return under(p, "go.etcd.io/bbolt") || under(p, "github.com/hashicorp/raft") },
	},
	{
		from: module + "/cluster",
		why: "cluster/ replicates the store's commands: it may reach db (and what db uses), never HTTP (server), " +
			"central (upstream), retention or app",
		transitive: true,
		forbidden: func(p string) bool {
			own := p == module || strings.HasPrefix(p, module+"/")
			for _, ok := range []string{"/cluster", "/db", "/callflow", "/model", "/routing", "/internal/edgetest"} {
				if under(p, module+ok) {
					return false
				}
			}
			return own
		},
	},
	{
		from: module + "/db",
		why: "db/ knows nothing of the consensus engine: a cluster reaches it through db.Replicator and Store.Apply " +
			"(db never imports cluster/ or raft)",
		transitive: true,
		forbidden: func(p string) bool {
			return under(p, module+"/cluster") || under(p, "github.com/hashicorp/raft")
		},
	},
}

func under(p, root string) bool { return p == root || strings.HasPrefix(p, root+"/") }

// TestLayering lists every package of the module with the go command and
// checks the rules above.
func TestLayering(t *testing.T) {
	pkgs := list(t)
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages; the test reads the wrong tree", len(pkgs))
	}
	for _, r := range rules {
		seen := false
		for _, p := range pkgs {
			if !under(p.ImportPath, r.from) {
				continue
			}
			seen = true
			for _, bad := range violations(p, r) {
				t.Errorf("%s imports or depends on %s: %s", p.ImportPath, bad, r.why)
			}
		}
		if !seen {
			t.Errorf("no package %s: the rule guards nothing (moved? update ARCHITECTURE.md and this test)", r.from)
		}
	}
}

func violations(p pkg, r rule) []string {
	imps := append(append(slices.Clone(p.Imports), p.TestImports...), p.XTestImports...)
	if r.transitive {
		imps = append(imps, p.Deps...)
	}
	var bad []string
	for _, i := range imps {
		if r.forbidden(i) && !slices.Contains(bad, i) {
			bad = append(bad, i)
		}
	}
	return bad
}

// list runs `go list -json ./...` at the module's root.
func list(t *testing.T) []pkg {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no go command on PATH in CI")
		}
		t.Skip("no go command on PATH")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goBin, "list", "-json", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("go list: %v\n%s", err, ee.Stderr)
	}
	if err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}
