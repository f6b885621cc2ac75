package db

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enneo-edge/enneo-edge/db/engine"
)

func TestResolveMaxSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	if n, derived, err := ResolveMaxSize(path, 0); n != 0 || derived || err != nil {
		t.Fatalf("configured 0: %d %v %v", n, derived, err)
	}
	if n, _, _ := ResolveMaxSize(path, 5<<20); n != 5<<20 {
		t.Fatalf("configured size: %d", n)
	}
	free, _ := engine.FreeBytes(filepath.Dir(path))
	n, derived, err := ResolveMaxSize(path, -1)
	if err != nil || !derived || n != max(int64(free/2), minDerivedMaxSize) && absDiff(n, int64(free/2)) > 64<<20 {
		t.Fatalf("first start: %d %v %v (free %d)", n, derived, err, free)
	}
	// Later starts keep it, however the disk changed.
	again, derived, err := ResolveMaxSize(path, -1)
	if err != nil || derived || again != n {
		t.Fatalf("second start: %d %v %v, want %d kept", again, derived, err, n)
	}
	if b, _ := os.ReadFile(MaxSizeFile(path)); strings.TrimSpace(string(b)) == "" {
		t.Fatal("derived cap not written down")
	}
	if err := os.WriteFile(MaxSizeFile(path), []byte("lots\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ResolveMaxSize(path, -1); err == nil || !strings.Contains(err.Error(), "max-size") {
		t.Fatalf("a bad cap file: %v", err)
	}
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}
