package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enneo-edge/enneo-edge/auth"
	"github.com/enneo-edge/enneo-edge/config"
	"github.com/enneo-edge/enneo-edge/internal/edgetest"
)

// TestGeneratedTokensAreShownOnceAndStoredAsHashes: the first start writes
// a pbx and an admin token to a file only its user can read, prints where
// (never a token), and keeps only their digests: neither the database
// file nor its write-ahead log holds a token.
func TestGeneratedTokensAreShownOnceAndStoredAsHashes(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := config.Default()
	cfg.Storage.Path = filepath.Join(t.TempDir(), "edge.db")
	file := generatedTokensFile(cfg)
	var first, second bytes.Buffer
	var opts []auth.Options
	for _, out := range []*bytes.Buffer{&first, &second} {
		store, done := edgetest.OpenStore(t, cfg.Storage.Path)
		o, err := apiTokens(cfg, store, out, quiet)
		done()
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, o)
	}
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("generated tokens file %s: %v %v", file, st, err)
	}
	b, _ := os.ReadFile(file)
	var pbx, admin string
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "pbx "); ok {
			pbx = v
		}
		if v, ok := strings.CutPrefix(line, "admin "); ok {
			admin = v
		}
	}
	if !strings.HasPrefix(pbx, "edge_") || !strings.HasPrefix(admin, "edge_") {
		t.Fatalf("tokens file:\n%s", b)
	}
	if strings.Contains(first.String(), pbx) || strings.Contains(first.String(), admin) || !strings.Contains(first.String(), file) {
		t.Fatalf("stdout shows a token or not the file: %q", first.String())
	}
	if second.Len() != 0 {
		t.Fatalf("second start printed %q", second.String())
	}
	// The second start accepts the same tokens with their roles.
	a, err := auth.New(opts[1])
	if err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]auth.Role{pbx: auth.RolePBX, admin: auth.RoleAdmin} {
		if r, err := a.Authenticate(auth.Credentials{Authorization: []byte("Bearer " + tok)}); r != want || err != nil {
			t.Fatalf("generated token: %v %v, want %v", r, err, want)
		}
	}
	// Nothing on disk beside the tokens file holds a token.
	files, _ := filepath.Glob(cfg.Storage.Path + "*")
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		if bytes.Contains(raw, []byte(pbx)) || bytes.Contains(raw, []byte(admin)) {
			t.Fatalf("%s holds a generated token in clear", f)
		}
	}
	// Configured tokens replace the generated ones.
	cfg.Auth.Tokens = []config.Token{{Token: "configured-token-Qx7Lm2Vb9", Role: "pbx"}}
	store, done := edgetest.OpenStore(t, cfg.Storage.Path)
	defer done()
	if o, _ := apiTokens(cfg, store, &second, quiet); len(o.Scoped) != 1 || o.Scoped[0].Role != auth.RolePBX || len(o.Digests) != 0 {
		t.Fatalf("configured tokens ignored: %+v", o)
	}
}

// TestClearTokenFromEarlierVersionBecomesAHash: a token stored in clear
// keeps working, with the full access it had, and is stored as a hash.
func TestClearTokenFromEarlierVersionBecomesAHash(t *testing.T) {
	cfg := config.Default()
	cfg.Storage.Path = filepath.Join(t.TempDir(), "edge.db")
	store, done := edgetest.OpenStore(t, cfg.Storage.Path)
	defer done()
	const old = "edge_an-old-token-stored-in-clear-0123456789"
	if err := store.SetAPIToken(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	o, err := apiTokens(cfg, store, io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := auth.New(o)
	if r, err := a.Authenticate(auth.Credentials{Authorization: []byte("Bearer " + old)}); r != auth.RoleAdmin || err != nil {
		t.Fatalf("old token: %v %v", r, err)
	}
	if s, _ := store.APIToken(); strings.Contains(s, old) || !strings.HasPrefix(s, storedDigests) {
		t.Fatalf("still stored in clear: %q", s)
	}
}

// TestBareConfiguredTokenKeepsFullAccessAndIsWarned: a config written
// before roles keeps working as it did, and the start says so.
func TestBareConfiguredTokenKeepsFullAccessAndIsWarned(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.toml")
	if err := os.WriteFile(path, []byte("[auth]\ntokens = [\"legacy-token-Qx7Lm2Vb9Rt4\", { token = \"pbx-token-Zw3Kp8Jn5Hs1\" }]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Storage.Path = filepath.Join(t.TempDir(), "edge.db")
	store, done := edgetest.OpenStore(t, cfg.Storage.Path)
	defer done()
	var logs bytes.Buffer
	o, err := apiTokens(cfg, store, io.Discard, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := auth.New(o)
	for tok, want := range map[string]auth.Role{"legacy-token-Qx7Lm2Vb9Rt4": auth.RoleAdmin, "pbx-token-Zw3Kp8Jn5Hs1": auth.RolePBX} {
		if r, err := a.Authenticate(auth.Credentials{Authorization: []byte("Bearer " + tok)}); r != want || err != nil {
			t.Errorf("%s: %v %v, want %v", tok, r, err, want)
		}
	}
	if !strings.Contains(logs.String(), "auth.tokens[0]") || strings.Contains(logs.String(), "auth.tokens[1]") {
		t.Fatalf("warning:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "legacy-token") {
		t.Fatal("the warning shows the token")
	}
}
