package config

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

const examplePath = "../config.example.toml"

// writeFile writes content to a fresh file in t.TempDir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaultIsValid(t *testing.T) {
	t.Parallel()
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("Validate changed a default config: %+v", c)
	}
	want := Server{
		Listen:          "127.0.0.1:8005",
		ReadTimeout:     Duration{5 * time.Second},
		WriteTimeout:    Duration{5 * time.Second},
		IdleTimeout:     Duration{time.Minute},
		ShutdownTimeout: Duration{10 * time.Second},
		MaxBodyBytes:    1 << 20,
		ReadBufferBytes: 16384,
		MaxConnections:  4096,

		MaxCallBodyBytes:  128 << 10,
		MaxPendingCommits: 1024,
	}
	if c.Server != want {
		t.Errorf("Default().Server = %+v, want %+v", c.Server, want)
	}
	if c.Storage.Path != "data/edge.db" || c.Site.ID != 1 || c.Site.PhoneRegion != "DE" ||
		c.Auth.JWTLeeway.Duration != time.Minute || c.Upstream.Workers != 4 || c.Upstream.URL != "" {
		t.Errorf("unexpected defaults: %+v", c)
	}
}

func TestLoadEmptyPathGivesDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("Load(\"\") = %+v, want defaults", c)
	}
}

// Not parallel: t.Chdir changes the process working directory.
func TestLoadMissingDefaultFileGivesDefaults(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, p := range []string{DefaultPath, "./" + DefaultPath} {
		c, err := Load(p)
		if err != nil {
			t.Fatalf("Load(%q) with no file: %v", p, err)
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Fatalf("Load(%q) = %+v, want defaults", p, c)
		}
	}
}

func TestLoadMissingExplicitFileFails(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nope.toml")
	_, err := Load(path)
	if err == nil {
		t.Fatal("Load of a missing explicit file succeeded")
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}
	if !strings.HasPrefix(err.Error(), "open "+path+": ") {
		t.Errorf("error %q does not start with %q", err, "open "+path+": ")
	}
	// A missing DefaultPath in another directory is explicit, too.
	if _, err := Load(filepath.Join(t.TempDir(), DefaultPath)); err == nil {
		t.Error("missing DefaultPath in another directory was tolerated")
	}
}

func TestLoadOverridesAndKeepsDefaults(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "edge.toml", `
[server]
listen = ":9000"
read_timeout = "1m30s"

[site]
id = 42
phone_region = "at"

[auth]
tokens = ["0123456789abcdef", { token = "Fq3-pbx-Zr8vLw2Nc5Tg", role = "pbx" }, { token = "Hj6-metrics-Yp1Xs4Kd", role = "metrics" }, { token = "Wm9-table-Bv7Qe2Ra0u" }]

[upstream]
url = "https://central.example/api/mind/"
token = "secret-token"
workers = 8
`)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Server.Listen = ":9000"
	want.Server.ReadTimeout = Duration{90 * time.Second}
	want.Site = Site{ID: 42, PhoneRegion: "AT"}
	want.Auth.Tokens = []Token{{Token: "0123456789abcdef", Role: "admin", Legacy: true}, {Token: "Fq3-pbx-Zr8vLw2Nc5Tg", Role: "pbx"},
		{Token: "Hj6-metrics-Yp1Xs4Kd", Role: "metrics"}, {Token: "Wm9-table-Bv7Qe2Ra0u", Role: "pbx"}}
	want.Upstream.URL, want.Upstream.Token, want.Upstream.Workers = "https://central.example/api/mind", "secret-token", 8
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Load =\n%+v\nwant\n%+v", c, want)
	}
}

func TestLoadBadFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		want    []string // substrings of the error, key names first
		notWant string
	}{
		{"misspelt key", "[server]\nlisen = \":80\"\n", []string{`unknown key "server.lisen"`}, ""},
		{"unknown table", "[servr]\nlisten = \":80\"\n", []string{`unknown key "servr"`}, "servr.listen"},
		{"unknown top-level key", "debug = true\n", []string{`unknown key "debug"`}, ""},
		{"syntax error", "[server]\nlisten = \n", []string{"line 2"}, ""},
		{"duplicate key", "[site]\nid = 1\nid = 2\n", []string{"line 3", "id"}, ""},
		{"wrong type", "[server]\nlisten = 8005\n", []string{"server.listen", "line 2"}, ""},
		{"bad duration", "[server]\nread_timeout = \"5 seconds\"\n", []string{"server.read_timeout", "line 2"}, ""},
		{"duration without unit", "[server]\nwrite_timeout = 5\n", []string{"server.write_timeout"}, ""},
		{"zero duration", "[server]\nidle_timeout = \"0s\"\n", []string{"server.idle_timeout: must be positive"}, ""},
		{"bad listen", "[server]\nlisten = \"8005\"\n", []string{"server.listen"}, ""},
		{"wal maybe", "[storage]\nwal = \"maybe\"\n", []string{"storage.wal", `must be true, false or "auto", got maybe`}, ""},
		{"wal number", "[storage]\nwal = 1\n", []string{"storage.wal", `must be true, false or "auto"`}, ""},
		{"listen port name", "[server]\nlisten = \"127.0.0.1:http\"\n", []string{"server.listen"}, ""},
		{"body too small", "[server]\nmax_body_bytes = 10\n", []string{"server.max_body_bytes"}, ""},
		{"buffer too big", "[server]\nread_buffer_bytes = 2097152\n", []string{"server.read_buffer_bytes"}, ""},
		{"no connections", "[server]\nmax_connections = 0\n", []string{"server.max_connections"}, ""},
		{"no pending commits", "[server]\nmax_pending_commits = 0\n", []string{"server.max_pending_commits: must be at least 1, got 0"}, ""},
		{"tls cert without key", "[server]\ntls_cert_file = \"/etc/hostname\"\n", []string{"server.tls_cert_file: and server.tls_key_file must be set together"}, ""},
		{"tls files missing", "[server]\ntls_cert_file = \"/nonexistent/c.pem\"\ntls_key_file = \"/nonexistent/k.pem\"\n",
			[]string{"server.tls_cert_file: stat /nonexistent/c.pem", "server.tls_key_file: stat /nonexistent/k.pem"}, ""},
		{"ca file missing", "[upstream]\nca_file = \"/nonexistent/ca.pem\"\n", []string{"upstream.ca_file: stat /nonexistent/ca.pem"}, ""},
		{"max size too small", "[storage]\nmax_size_bytes = 1000\n", []string{"storage.max_size_bytes: must be -1 (derived at first start), 0 (no cap) or at least 1048576, got 1000"}, ""},
		{"empty storage", "[storage]\npath = \"\"\n", []string{"storage.path"}, ""},
		{"site id zero", "[site]\nid = 0\n", []string{"site.id: must be between 1 and 9999, got 0"}, ""},
		{"site id too big", "[site]\nid = 10000\n", []string{"site.id"}, ""},
		{"bad region", "[site]\nphone_region = \"DEU\"\n", []string{"site.phone_region"}, ""},
		{"short token", "[auth]\ntokens = [\"short\"]\n", []string{"auth.tokens[0]"}, "short\""},
		{"token with space", "[auth]\ntokens = [\"0123456789abcdef\", \"0123456789 abcdef\"]\n", []string{"auth.tokens[1]"}, ""},
		{"short jwt secret", "[auth]\njwt_secret = \"tooshort\"\n", []string{"auth.jwt_secret"}, "tooshort"},
		{"example token", "[auth]\ntokens = [\"change-me-to-a-long-random-string\"]\n", []string{"auth.tokens[0]: is the example value"}, "change-me-to"},
		{"repeated token", "[auth]\ntokens = [\"aaaaaaaaaaaaaaaa\"]\n", []string{"auth.tokens[0]: is too easy to guess"}, "aaaa"},
		{"placeholder token", "[auth]\ntokens = [{ token = \"please-changeme-0123456789\", role = \"admin\" }]\n", []string{"auth.tokens[0]: looks like a placeholder"}, "please"},
		{"example upstream token", "[upstream]\nurl = \"https://c.example/api/mind\"\ntoken = \"token-issued-by-central\"\n", []string{"upstream.token: is the example value"}, ""},
		{"example jwt secret", "[auth]\njwt_secret = \"at-least-32-bytes-of-random-secret-data\"\n", []string{"auth.jwt_secret: is the example value"}, "at-least"},
		{"low entropy jwt secret", "[auth]\njwt_secret = \"abababababababababababababababab\"\n", []string{"auth.jwt_secret: is too easy to guess"}, "abab"},
		{"unknown role", "[auth]\ntokens = [{ token = \"Fq3-pbx-Zr8vLw2Nc5Tg\", role = \"root\" }]\n", []string{"auth.tokens[0]: role must be"}, ""},
		{"unknown token key", "[auth]\ntokens = [{ token = \"Fq3-pbx-Zr8vLw2Nc5Tg\", rolle = \"pbx\" }]\n", []string{"unknown key \"rolle\""}, ""},
		{"token not a string", "[auth]\ntokens = [7]\n", []string{"auth.tokens: each entry"}, ""},
		{"jwt lifetime too long", "[auth]\njwt_max_lifetime = \"9000h\"\n", []string{"auth.jwt_max_lifetime"}, ""},
		{"per-ip conns over max", "[server]\nmax_connections = 8\nmax_conns_per_ip = 9\n", []string{"server.max_conns_per_ip"}, ""},
		{"call body over body", "[server]\nmax_call_body_bytes = 2000000\n", []string{"server.max_call_body_bytes"}, ""},
		{"missing public key", "[auth]\njwt_public_key_file = \"/nonexistent/key.pem\"\n", []string{"auth.jwt_public_key_file"}, ""},
		{"issuer without key", "[auth]\njwt_issuer = \"me\"\n", []string{"auth.jwt_issuer"}, ""},
		{"leeway too big", "[auth]\njwt_leeway = \"11m\"\n", []string{"auth.jwt_leeway"}, ""},
		{"leeway negative", "[auth]\njwt_leeway = \"-1s\"\n", []string{"auth.jwt_leeway"}, ""},
		{"upstream without token", "[upstream]\nurl = \"https://c.example/api/mind\"\n",
			[]string{"upstream.token: required when upstream.url is set"}, ""},
		{"upstream wrong scheme", "[upstream]\nurl = \"ftp://c.example/api/mind\"\ntoken = \"t\"\n", []string{"upstream.url"}, ""},
		{"upstream relative", "[upstream]\nurl = \"/api/mind\"\ntoken = \"t\"\n", []string{"upstream.url"}, ""},
		{"upstream wrong path", "[upstream]\nurl = \"https://c.example/api\"\ntoken = \"t\"\n", []string{"upstream.url"}, ""},
		{"upstream password", "[upstream]\nurl = \"https://u:hunter2@c.example/api/mind\"\ntoken = \"t\"\n",
			[]string{"upstream.url"}, "hunter2"},
		{"upstream workers", "[upstream]\nworkers = 65\n", []string{"upstream.workers"}, ""},
		{"several problems", "[site]\nid = 0\n[upstream]\nworkers = 0\n", []string{"site.id", "upstream.workers"}, ""},
		{"several unknown keys", "[server]\nlisen = \"\"\n[site]\nregion = \"DE\"\n",
			[]string{`unknown key "server.lisen"`, `unknown key "site.region"`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "bad.toml", tt.content)
			_, err := Load(path)
			if err == nil {
				t.Fatalf("Load succeeded for:\n%s", tt.content)
			}
			msg := err.Error()
			if !strings.Contains(msg, path) {
				t.Errorf("error %q does not name the file %s", msg, path)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			if tt.notWant != "" && strings.Contains(msg, tt.notWant) {
				t.Errorf("error %q contains %q", msg, tt.notWant)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	keyFile := writeFile(t, "jwt.pub.pem", "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n")
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // "" = valid; otherwise the full dotted key the error starts with
	}{
		{"defaults", func(*Config) {}, ""},
		{"listen all interfaces", func(c *Config) { c.Server.Listen = ":8005" }, ""},
		{"listen ipv6", func(c *Config) { c.Server.Listen = "[::1]:8005" }, ""},
		{"listen no port", func(c *Config) { c.Server.Listen = "localhost" }, "server.listen"},
		{"listen port too big", func(c *Config) { c.Server.Listen = ":65536" }, "server.listen"},
		{"negative shutdown", func(c *Config) { c.Server.ShutdownTimeout = Duration{-time.Second} }, "server.shutdown_timeout"},
		{"body max", func(c *Config) { c.Server.MaxBodyBytes = 64 << 20 }, ""},
		{"body over max", func(c *Config) { c.Server.MaxBodyBytes = 64<<20 + 1 }, "server.max_body_bytes"},
		{"buffer min", func(c *Config) { c.Server.ReadBufferBytes = 4096 }, ""},
		{"buffer under min", func(c *Config) { c.Server.ReadBufferBytes = 4095 }, "server.read_buffer_bytes"},
		{"blank storage", func(c *Config) { c.Storage.Path = "  " }, "storage.path"},
		{"log level debug", func(c *Config) { c.Log.Level = "DEBUG" }, ""},
		{"log level unknown", func(c *Config) { c.Log.Level = "verbose" }, "log.level"},
		{"log level empty", func(c *Config) { c.Log.Level = "" }, "log.level"},
		{"site id max", func(c *Config) { c.Site.ID = 9999 }, ""},
		{"region digits", func(c *Config) { c.Site.PhoneRegion = "D1" }, "site.phone_region"},
		{"region empty", func(c *Config) { c.Site.PhoneRegion = "" }, "site.phone_region"},
		{"duplicate token", func(c *Config) {
			c.Auth.Tokens = []Token{{Token: "0123456789abcdef", Role: "pbx"}, {Token: "0123456789abcdef", Role: "pbx"}}
		}, "auth.tokens[1]"},
		{"jwt secret ok", func(c *Config) { c.Auth.JWTSecret = "k8Jd2LqP0zXv7Rn4Wm1Bt6Yc9Hs3Gf5A" }, ""},
		{"jwt secret short", func(c *Config) { c.Auth.JWTSecret = strings.Repeat("s", 31) }, "auth.jwt_secret"},
		{"public key ok", func(c *Config) { c.Auth.JWTPublicKeyFile = keyFile }, ""},
		{"public key is dir", func(c *Config) { c.Auth.JWTPublicKeyFile = t.TempDir() }, "auth.jwt_public_key_file"},
		{"issuer and audience with key", func(c *Config) {
			c.Auth.JWTPublicKeyFile, c.Auth.JWTIssuer, c.Auth.JWTAudience = keyFile, "iss", "aud"
		}, ""},
		{"audience without key", func(c *Config) { c.Auth.JWTAudience = "aud" }, "auth.jwt_audience"},
		{"leeway zero", func(c *Config) { c.Auth.JWTLeeway = Duration{} }, ""},
		{"upstream ok", func(c *Config) { c.Upstream.URL, c.Upstream.Token = "http://10.0.0.1:8080/x/api/mind", "t" }, ""},
		{"upstream query", func(c *Config) { c.Upstream.URL, c.Upstream.Token = "https://c.example/api/mind?a=b", "t" }, "upstream.url"},
		{"upstream no host", func(c *Config) { c.Upstream.URL, c.Upstream.Token = "https:///api/mind", "t" }, "upstream.url"},
		{"upstream token space", func(c *Config) { c.Upstream.URL, c.Upstream.Token = "https://c.example/api/mind", "a b" }, "upstream.token"},
		{"upstream workers zero", func(c *Config) { c.Upstream.Workers = 0 }, "upstream.workers"},
		{"upstream timeout zero", func(c *Config) { c.Upstream.Timeout = Duration{} }, "upstream.timeout"},
		{"upstream backoff inverted", func(c *Config) { c.Upstream.BackoffMax = Duration{time.Millisecond} }, "upstream.backoff_max"},
		{"upstream attempts zero", func(c *Config) { c.Upstream.MaxAttempts = 0 }, "upstream.max_attempts"},
		{"retention forever", func(c *Config) { c.Retention.Synced = Duration{} }, ""},
		{"retention too short", func(c *Config) { c.Retention.Synced = Duration{time.Second} }, "retention.synced"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate() = nil, want error for %s", tt.want)
			case tt.want != "" && !strings.HasPrefix(err.Error(), tt.want+": "):
				t.Fatalf("Validate() = %q, want it to start with %q", err, tt.want+": ")
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	c := Default()
	c.Server.Listen = ""
	c.Site.ID = -1
	c.Auth.JWTSecret = "k8Jd2LqP0zXv7Rn4Wm1Bt6Yc9Hs3Gf5A-Uo2"
	c.Auth.JWTPublicKeyFile = filepath.Join(t.TempDir(), "missing.pem")
	c.Upstream.URL = "https://c.example/api/mind"
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	lines := strings.Split(err.Error(), "\n")
	keys := []string{"server.listen", "site.id", "auth.jwt_public_key_file", "auth.jwt_secret", "upstream.token"}
	if len(lines) != len(keys) {
		t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(keys), err)
	}
	for i, k := range keys {
		if !strings.HasPrefix(lines[i], k+": ") {
			t.Errorf("problem %d = %q, want key %s", i, lines[i], k)
		}
	}
	if !strings.Contains(err.Error(), "auth.jwt_secret: is mutually exclusive with auth.jwt_public_key_file") {
		t.Errorf("mutual exclusion not reported with both keys: %v", err)
	}
}

func TestDurationText(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"5s", "1m30s", "1h0m0s", "250ms", "0s"} {
		var d Duration
		if err := d.UnmarshalText([]byte(s)); err != nil {
			t.Fatalf("UnmarshalText(%q): %v", s, err)
		}
		out, err := d.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Duration
		if err := back.UnmarshalText(out); err != nil || back != d {
			t.Errorf("%q -> %q -> %v (%v), want %v", s, out, back, err, d)
		}
	}
	var d Duration
	if err := d.UnmarshalText([]byte("5")); err == nil {
		t.Error("UnmarshalText(\"5\") accepted a duration without unit")
	}
}

func TestExampleFileLoadsAsDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(examplePath)
	if err != nil {
		t.Fatalf("Load(%s): %v", examplePath, err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("example values differ from Default():\n got %+v\nwant %+v", c, Default())
	}
}

func TestExampleFileDocumentsEveryKey(t *testing.T) {
	t.Parallel()
	documented := exampleKeys(t, examplePath)
	for _, key := range configKeys(reflect.TypeFor[Config](), "") {
		if !documented[key] {
			t.Errorf("%s does not document key %q", examplePath, key)
		}
	}
}

// configKeys lists the dotted TOML keys of all leaf fields of struct type t.
func configKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for f := range t.Fields() {
		name := prefix + f.Tag.Get("toml")
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[Duration]() {
			keys = append(keys, configKeys(f.Type, name+".")...)
			continue
		}
		keys = append(keys, name)
	}
	return keys
}

// exampleKeys collects "section.key" for every key assignment in the file,
// whether active or commented out ("# key = value").
func exampleKeys(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	section := regexp.MustCompile(`^\[([a-z_]+)\]\s*$`)
	assign := regexp.MustCompile(`^(?:#\s*)?([a-z_]+)\s*=`)
	keys := make(map[string]bool)
	var current string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := section.FindStringSubmatch(line); m != nil {
			current = m[1] + "."
		} else if m := assign.FindStringSubmatch(line); m != nil {
			keys[current+m[1]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}
