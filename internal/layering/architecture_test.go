package layering

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestArchitectureNamesExistingPaths: every file or folder of this tree
// that ARCHITECTURE.md names (in backticks, with a slash) exists, so the
// page cannot drift from the tree unnoticed. The next-steps section names
// rooms still to come and is left out.
func TestArchitectureNamesExistingPaths(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	text, _, _ := strings.Cut(string(b), "\n## Next steps")
	cited := regexp.MustCompile("`([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]*)+)`")
	n := 0
	for _, m := range cited.FindAllStringSubmatch(text, -1) {
		p := m[1]
		if first, _, _ := strings.Cut(p, "/"); strings.Contains(first, ".") {
			continue // a module path (go.etcd.io/bbolt), not a file here
		}
		n++
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("ARCHITECTURE.md names %s, which does not exist", p)
		}
	}
	if n < 20 {
		t.Fatalf("found %d paths in ARCHITECTURE.md; the pattern no longer matches how it cites them", n)
	}
}
