package edgetest

import (
	"fmt"
	"os"
	"testing"
)

// Config is the part of an enneo-edge config file that every process test
// sets: where it listens and stores, its site, the one token it accepts,
// and where it forwards. What only one test needs goes into the Extra
// fields as TOML text.
type Config struct {
	Listen string // host:port of the API ("127.0.0.1:0": the kernel picks)
	DB     string // the database file
	Site   int
	Token  string // the bearer token the API accepts
	// Upstream is where the process forwards; nil is an air-gapped process
	// (no [upstream] section), such as a hub.
	Upstream *Upstream
	Extra    string // appended as is after everything else (more sections)
}

// Upstream is the [upstream] section: the forwarder's target and how
// quickly it gives up and tries again, short in the tests so that failures
// and retries happen within a test's run.
type Upstream struct {
	URL         string
	Token       string
	Workers     int
	Timeout     string // one request's limit
	BackoffMin  string
	BackoffMax  string
	PausedRetry string
	Extra       string // more [upstream] keys, appended as is
}

// TOML renders the config file.
func (c Config) TOML() string {
	s := fmt.Sprintf(`[server]
listen = %q
[storage]
path = %q
[site]
id = %d
[auth]
tokens = [%q]
`, c.Listen, c.DB, c.Site, c.Token)
	if u := c.Upstream; u != nil {
		s += fmt.Sprintf(`[upstream]
url = %q
token = %q
workers = %d
timeout = %q
backoff_min = %q
backoff_max = %q
paused_retry = %q
%s`, u.URL, u.Token, u.Workers, u.Timeout, u.BackoffMin, u.BackoffMax, u.PausedRetry, u.Extra)
	}
	return s + c.Extra
}

// WriteConfig writes c to path (mode 0600: it holds tokens) and returns
// path, for Start.
func WriteConfig(t testing.TB, path string, c Config) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(c.TOML()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
