package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/BurntSushi/toml"
)

// DefaultPath is the configuration file used when the operator names none.
// Unlike an explicitly named file, it may be absent: the binary then runs
// with [Default] values, which suits a first start or a test setup.
const DefaultPath = "enneo-edge.toml"

// Limits enforced by Validate. They keep a typo (an extra zero, a missing
// unit) from turning into a memory or resource problem on the PBX host.
const (
	kib = 1 << 10
	mib = 1 << 20

	minMaxBodyBytes     = 1 * kib
	maxMaxBodyBytes     = 64 * mib
	minReadBufferBytes  = 4 * kib
	maxReadBufferBytes  = 1 * mib
	maxJWTLeeway        = 10 * time.Minute
	minMaxSizeBytes     = 1 * mib
	maxSiteID           = 9999
	maxUpstreamWorkers  = 64
	maxUpstreamAttempts = 100
	minRetention        = time.Minute
	upstreamPathSuffix  = "/api/mind"
)

// Config is the complete enneo-edge configuration. Obtain one from [Load]
// (or [Default] in tests) and call [Config.Validate] before use if it was
// built or changed by hand.
type Config struct {
	Server    Server    `toml:"server"`
	Storage   Storage   `toml:"storage"`
	Site      Site      `toml:"site"`
	Auth      Auth      `toml:"auth"`
	Upstream  Upstream  `toml:"upstream"`
	Retention Retention `toml:"retention"`
	Routing   Routing   `toml:"routing"`
	Log       Log       `toml:"log"`
	Cluster   Cluster   `toml:"cluster"`
}

// Server configures the local HTTP listener that answers the telephony API.
// The limits bound what a single client can make the edge hold in memory.
type Server struct {
	// Listen is the host:port to listen on; an empty host means all
	// interfaces. The default binds to loopback only, because the PBX
	// normally runs on the same machine.
	Listen string `toml:"listen"`
	// ReadTimeout bounds reading one full request, including the body.
	ReadTimeout Duration `toml:"read_timeout"`
	// WriteTimeout bounds writing one response.
	WriteTimeout Duration `toml:"write_timeout"`
	// IdleTimeout is how long a keep-alive connection may wait for the next
	// request before it is closed.
	IdleTimeout Duration `toml:"idle_timeout"`
	// ShutdownTimeout is how long in-flight requests get to finish on
	// SIGTERM before the process exits anyway.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	// MaxBodyBytes is the largest request body accepted (1 KiB..64 MiB).
	MaxBodyBytes int `toml:"max_body_bytes"`
	// ReadBufferBytes is the per-connection read buffer; it also caps the
	// total size of request headers (4 KiB..1 MiB).
	ReadBufferBytes int `toml:"read_buffer_bytes"`
	// MaxConnections is the number of concurrent connections served.
	MaxConnections int `toml:"max_connections"`
	// MaxConnsPerIP bounds the connections from one client address
	// (0: a quarter of max_connections, at most 256).
	MaxConnsPerIP int `toml:"max_conns_per_ip"`
	// MaxCallBodyBytes bounds a callReceived body; max_body_bytes is
	// sized for bulk customer uploads.
	MaxCallBodyBytes int `toml:"max_call_body_bytes"`
	// MaxCallsPerSecondPerClient, when positive, bounds the calls one
	// client address may send per second (0: unlimited).
	MaxCallsPerSecondPerClient float64 `toml:"max_calls_per_second_per_client"`
	// MaxPendingCommits is how many calls may wait for a commit at once;
	// past it callReceived answers 503 with Retry-After at once instead
	// of queueing without bound.
	MaxPendingCommits int `toml:"max_pending_commits"`
	// TLSCertFile and TLSKeyFile, both set, serve HTTPS with this PEM
	// certificate chain and key; SIGHUP reloads them.
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
}

// Storage says where the embedded database lives.
type Storage struct {
	// Path is the bbolt database file; relative paths are relative to the
	// working directory. Its directory must be writable.
	Path string `toml:"path"`
	// MaxSizeBytes caps the database file (0: no cap). Past it writes get
	// 503 and nothing stored is harmed. AutoMaxSize, the default, is
	// derived from the free disk at first start (see db.ResolveMaxSize).
	MaxSizeBytes int64 `toml:"max_size_bytes"`
	// WAL makes a commit durable with one sequential write to a
	// write-ahead log next to the file (path-wal0, path-wal1; 32 MiB each)
	// instead of bbolt's own two fsyncs of scattered pages: true (required),
	// "auto" (when the file system allows) or false.
	WAL WALMode `toml:"wal"`
}

// Site identifies this edge installation and how it reads phone numbers.
type Site struct {
	// ID distinguishes this site's records from other sites' when they are
	// forwarded upstream (1..9999).
	ID int `toml:"id"`
	// PhoneRegion is the ISO 3166-1 alpha-2 country used to interpret phone
	// numbers written without a country code. Validate upper-cases it.
	PhoneRegion string `toml:"phone_region"`
}

// Upstream configures the optional connection to the central enneo
// instance. Leaving URL empty runs the edge air-gapped.
type Upstream struct {
	// URL is the central API base, an absolute http(s) URL whose path ends
	// in "/api/mind". Validate removes a trailing slash.
	URL string `toml:"url"`
	// Token is the bearer token presented to central; required with URL.
	Token string `toml:"token"`
	// Workers is the number of concurrent forwarders to central (1..64).
	Workers int `toml:"workers"`
	// CAFile is a PEM bundle of the site's private CA that central's
	// certificate is verified against, instead of the system roots.
	CAFile string `toml:"ca_file"`
	// Timeout bounds one request to central.
	Timeout Duration `toml:"timeout"`
	// BackoffMin and BackoffMax bound the jittered exponential delay
	// between retries after network errors, timeouts, 429 and 5xx.
	BackoffMin Duration `toml:"backoff_min"`
	BackoffMax Duration `toml:"backoff_max"`
	// PausedRetry is how often a queue paused by 401/403 probes central.
	PausedRetry Duration `toml:"paused_retry"`
	// MaxAttempts is how often a record central refuses with another 4xx
	// is tried before it is dead-lettered (1..100).
	MaxAttempts int `toml:"max_attempts"`
	// Auth names the credential headers sent to central: "bearer"
	// (Authorization: Bearer token), "internal"
	// (x-internal-communication-token) or "both".
	Auth string `toml:"auth"`
	// InternalToken is the x-internal-communication-token value; empty
	// means Token.
	InternalToken string `toml:"internal_token"`
	// LookupDelay is how long after an ambiguous attempt the edge waits
	// before asking central whether it has the record; 0 means Timeout.
	LookupDelay Duration `toml:"lookup_delay"`
	// StuckAfter is how long a record may keep failing before it is
	// shown as stuck.
	StuckAfter Duration `toml:"stuck_after"`
	// PullInterval is how often agents, skills and phone lines are read
	// from central; 0 turns the pull off.
	PullInterval Duration `toml:"pull_interval"`
}

// Retention says how long the edge keeps what central already has.
type Retention struct {
	// Synced is how long a ticket is kept after all its records reached
	// central (for PBX repeats and lookups); 0 keeps tickets forever.
	// Tickets not yet synced are never deleted.
	Synced Duration `toml:"synced"`
	// AirGapped applies without upstream.url, where nothing ever syncs:
	// a ticket and its records are deleted this long after its last
	// change (export them first with enneo-edge export); 0 keeps them
	// forever.
	AirGapped Duration `toml:"air_gapped"`
}

// Routing configures the edge's distributor for routing=native calls.
type Routing struct {
	// RingTimeout is how long an offered agent may ring before they become
	// notResponding and the call is offered to the next agent (1s..10m).
	RingTimeout Duration `toml:"ring_timeout"`
	// MaxWait is how long a call waits for an agent before it is declined
	// (1s..24h).
	MaxWait Duration `toml:"max_wait"`
	// ACW is the after-call work time after callCompleted, after which the
	// agent is idle again (1s..1h).
	ACW Duration `toml:"acw"`
	// DefaultHandleTime is the handling time wait estimates assume until
	// calls have been completed (1s..24h).
	DefaultHandleTime Duration `toml:"default_handle_time"`
	// TimerInterval is how often ring, acw and wait timers are checked
	// (100ms..1m).
	TimerInterval Duration `toml:"timer_interval"`
	// SubchannelTags maps a phone line (subchannelId, as a string key) to
	// the skill tag ID its calls need; other lines need no skill.
	SubchannelTags map[string]int64 `toml:"subchannel_tags"`
}

// Tags returns SubchannelTags with numeric keys; Validate has checked them.
func (r Routing) Tags() map[int64]int64 {
	out := make(map[int64]int64, len(r.SubchannelTags))
	for k, v := range r.SubchannelTags {
		if n, err := strconv.ParseInt(k, 10, 64); err == nil {
			out[n] = v
		}
	}
	return out
}

// Duration is a time.Duration written in TOML as a Go duration string such
// as "5s" or "1m30s", which is easier to read and harder to get wrong than
// a bare number of nanoseconds.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string; the TOML decoder calls it.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as a Go duration string, so an encoded
// Config reads back unchanged.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// Default returns the built-in configuration. Load starts from it, so any
// key the file leaves out keeps the value returned here.
func Default() Config {
	return Config{
		Server: Server{
			Listen:          "127.0.0.1:8005",
			ReadTimeout:     Duration{5 * time.Second},
			WriteTimeout:    Duration{5 * time.Second},
			IdleTimeout:     Duration{60 * time.Second},
			ShutdownTimeout: Duration{10 * time.Second},
			MaxBodyBytes:    1 * mib,
			// A call with a long transcript is a few KiB.
			MaxCallBodyBytes: 128 * kib,
			ReadBufferBytes:  16 * kib,
			MaxConnections:   4096,
			// A group commit carries up to 512 calls; two commits' worth
			// keeps the disk busy without a queue that only adds latency.
			MaxPendingCommits: 1024,
		},
		Storage: Storage{Path: "data/edge.db", WAL: WALAuto, MaxSizeBytes: AutoMaxSize},
		Site:    Site{ID: 1, PhoneRegion: "DE"},
		Auth:    Auth{JWTLeeway: Duration{60 * time.Second}, JWTMaxLifetime: Duration{24 * time.Hour}},
		Upstream: Upstream{
			Workers:      4,
			Timeout:      Duration{30 * time.Second},
			BackoffMin:   Duration{time.Second},
			BackoffMax:   Duration{5 * time.Minute},
			PausedRetry:  Duration{30 * time.Second},
			MaxAttempts:  3,
			Auth:         "bearer",
			StuckAfter:   Duration{10 * time.Minute},
			PullInterval: Duration{time.Minute},
		},
		Routing: Routing{
			RingTimeout:       Duration{20 * time.Second},
			MaxWait:           Duration{10 * time.Minute},
			ACW:               Duration{30 * time.Second},
			DefaultHandleTime: Duration{3 * time.Minute},
			TimerInterval:     Duration{time.Second},
		},
		Retention: Retention{Synced: Duration{30 * 24 * time.Hour}, AirGapped: Duration{90 * 24 * time.Hour}},
		Log:       Log{Level: "info"},
	}
}

// Load reads the TOML file at path over [Default] and validates the result.
//
// An empty path yields the defaults. A missing file is tolerated only when
// path is [DefaultPath]; a file the operator named explicitly must exist.
// Unknown keys are errors, so that a misspelt key is not silently ignored.
func Load(path string) (Config, error) {
	cfg := Default()
	if path == "" {
		return cfg, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && filepath.Clean(path) == DefaultPath {
			return cfg, nil
		}
		return Config{}, err // *fs.PathError: "open <path>: ..."
	}
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&cfg)
	if err != nil {
		// toml errors carry the line and, where known, the key.
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	if err := unknownKeys(path, md.Undecoded()); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// unknownKeys reports each undecoded key once; keys below an already
// reported unknown table are left out to keep the message short.
func unknownKeys(path string, keys []toml.Key) error {
	var errs []error
	var reported []string
	for _, k := range keys {
		name := k.String()
		covered := false
		for _, r := range reported {
			if strings.HasPrefix(name, r+".") {
				covered = true
				break
			}
		}
		if covered {
			continue
		}
		reported = append(reported, name)
		errs = append(errs, fmt.Errorf("config %s: unknown key %q", path, name))
	}
	return errors.Join(errs...)
}

// Validate checks every field and returns all problems joined with
// errors.Join, each starting with the field's full dotted key. It also
// normalises site.phone_region (upper case) and upstream.url (no trailing
// slash), which is why it takes a pointer.
func (c *Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}

	c.Log.validate(add)
	c.validateCluster(add)

	// server
	s := &c.Server
	if err := checkListen(s.Listen); err != nil {
		add("server.listen", "%v", err)
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{
		{"server.read_timeout", s.ReadTimeout},
		{"server.write_timeout", s.WriteTimeout},
		{"server.idle_timeout", s.IdleTimeout},
		{"server.shutdown_timeout", s.ShutdownTimeout},
	} {
		if d.v.Duration <= 0 {
			add(d.key, "must be positive, got %s", d.v)
		}
	}
	if s.MaxBodyBytes < minMaxBodyBytes || s.MaxBodyBytes > maxMaxBodyBytes {
		add("server.max_body_bytes", "must be between %d and %d, got %d",
			minMaxBodyBytes, maxMaxBodyBytes, s.MaxBodyBytes)
	}
	if s.ReadBufferBytes < minReadBufferBytes || s.ReadBufferBytes > maxReadBufferBytes {
		add("server.read_buffer_bytes", "must be between %d and %d, got %d",
			minReadBufferBytes, maxReadBufferBytes, s.ReadBufferBytes)
	}
	if s.MaxConnections < 1 {
		add("server.max_connections", "must be at least 1, got %d", s.MaxConnections)
	}
	if s.MaxConnsPerIP < 0 || s.MaxConnsPerIP > s.MaxConnections {
		add("server.max_conns_per_ip", "must be between 0 (a quarter of server.max_connections) and server.max_connections (%d), got %d", s.MaxConnections, s.MaxConnsPerIP)
	}
	if s.MaxCallBodyBytes < minMaxBodyBytes || s.MaxCallBodyBytes > s.MaxBodyBytes {
		add("server.max_call_body_bytes", "must be between %d and server.max_body_bytes (%d), got %d", minMaxBodyBytes, s.MaxBodyBytes, s.MaxCallBodyBytes)
	}
	if s.MaxCallsPerSecondPerClient < 0 {
		add("server.max_calls_per_second_per_client", "must be 0 (unlimited) or positive, got %v", s.MaxCallsPerSecondPerClient)
	}

	if s.MaxPendingCommits < 1 {
		add("server.max_pending_commits", "must be at least 1, got %d", s.MaxPendingCommits)
	}
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		add("server.tls_cert_file", "and server.tls_key_file must be set together")
	}
	for _, f := range []struct{ key, path string }{
		{"server.tls_cert_file", s.TLSCertFile},
		{"server.tls_key_file", s.TLSKeyFile},
		{"upstream.ca_file", c.Upstream.CAFile},
	} {
		if f.path == "" {
			continue
		}
		if err := checkReadableFile(f.path); err != nil {
			add(f.key, "%v", err)
		}
	}

	// storage
	if strings.TrimSpace(c.Storage.Path) == "" {
		add("storage.path", "must not be empty")
	}
	if m := c.Storage.MaxSizeBytes; m != 0 && m != AutoMaxSize && m < minMaxSizeBytes {
		add("storage.max_size_bytes", "must be %d (derived at first start), 0 (no cap) or at least %d, got %d", AutoMaxSize, minMaxSizeBytes, m)
	}

	// site
	if c.Site.ID < 1 || c.Site.ID > maxSiteID {
		add("site.id", "must be between 1 and %d, got %d", maxSiteID, c.Site.ID)
	}
	c.Site.PhoneRegion = strings.ToUpper(c.Site.PhoneRegion)
	if !isRegion(c.Site.PhoneRegion) {
		add("site.phone_region", "must be a two-letter ISO 3166-1 alpha-2 code such as \"DE\", got %q",
			c.Site.PhoneRegion)
	}

	errs = append(errs, c.Auth.validate()...)

	// upstream
	u := &c.Upstream
	if u.URL != "" {
		norm, err := checkUpstreamURL(u.URL)
		if err != nil {
			add("upstream.url", "%v", err)
		} else {
			u.URL = norm
		}
		if u.Token == "" {
			add("upstream.token", "required when upstream.url is set")
		}
	}
	if strings.IndexFunc(u.Token, unicode.IsSpace) >= 0 {
		add("upstream.token", "must not contain whitespace")
	}
	if isExampleSecret(u.Token) {
		// Central issues it, so only the published placeholder is refused.
		add("upstream.token", "is the example value from the documentation; use the token central issued")
	}
	if u.Workers < 1 || u.Workers > maxUpstreamWorkers {
		add("upstream.workers", "must be between 1 and %d, got %d", maxUpstreamWorkers, u.Workers)
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{
		{"upstream.timeout", u.Timeout},
		{"upstream.backoff_min", u.BackoffMin},
		{"upstream.backoff_max", u.BackoffMax},
		{"upstream.paused_retry", u.PausedRetry},
	} {
		if d.v.Duration <= 0 {
			add(d.key, "must be positive, got %s", d.v)
		}
	}
	if u.BackoffMax.Duration < u.BackoffMin.Duration {
		add("upstream.backoff_max", "must not be below upstream.backoff_min (%s), got %s", u.BackoffMin, u.BackoffMax)
	}
	if u.MaxAttempts < 1 || u.MaxAttempts > maxUpstreamAttempts {
		add("upstream.max_attempts", "must be between 1 and %d, got %d", maxUpstreamAttempts, u.MaxAttempts)
	}
	switch u.Auth {
	case "bearer", "internal", "both":
	default:
		add("upstream.auth", `must be "bearer", "internal" or "both", got %q`, u.Auth)
	}
	if strings.IndexFunc(u.InternalToken, unicode.IsSpace) >= 0 {
		add("upstream.internal_token", "must not contain whitespace")
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{
		{"upstream.lookup_delay", u.LookupDelay},
		{"upstream.pull_interval", u.PullInterval},
	} {
		if d.v.Duration < 0 {
			add(d.key, "must not be negative, got %s", d.v)
		}
	}
	if u.StuckAfter.Duration < time.Second {
		add("upstream.stuck_after", "must be at least 1s, got %s", u.StuckAfter)
	}
	if p := u.PullInterval.Duration; p != 0 && p < time.Second {
		add("upstream.pull_interval", "must be 0 (off) or at least 1s, got %s", u.PullInterval)
	}

	// retention
	if r := c.Retention.Synced.Duration; r != 0 && r < minRetention {
		add("retention.synced", "must be 0 (keep forever) or at least %s, got %s", minRetention, c.Retention.Synced)
	}
	if r := c.Retention.AirGapped.Duration; r != 0 && r < minRetention {
		add("retention.air_gapped", "must be 0 (keep forever) or at least %s, got %s", minRetention, c.Retention.AirGapped)
	}

	// routing
	for _, d := range []struct {
		key      string
		v        Duration
		min, max time.Duration
	}{
		{"routing.ring_timeout", c.Routing.RingTimeout, time.Second, 10 * time.Minute},
		{"routing.max_wait", c.Routing.MaxWait, time.Second, 24 * time.Hour},
		{"routing.acw", c.Routing.ACW, time.Second, time.Hour},
		{"routing.default_handle_time", c.Routing.DefaultHandleTime, time.Second, 24 * time.Hour},
		{"routing.timer_interval", c.Routing.TimerInterval, 100 * time.Millisecond, time.Minute},
	} {
		if d.v.Duration < d.min || d.v.Duration > d.max {
			add(d.key, "must be between %s and %s, got %s", d.min, d.max, d.v)
		}
	}
	for line, tag := range c.Routing.SubchannelTags {
		if n, err := strconv.ParseInt(line, 10, 64); err != nil || n <= 0 {
			add("routing.subchannel_tags", "key %q must be a subchannelId (a positive integer)", line)
		}
		if tag <= 0 {
			add("routing.subchannel_tags."+line, "must be a positive tag ID, got %d", tag)
		}
	}

	return errors.Join(errs...)
}
