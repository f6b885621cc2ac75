package server

import "time"

// Option adds an optional part to a Server built by New.
type Option func(*Server)

// WithMetrics makes the server record into m (built by NewMetrics before
// the store, so the store's commit hook can feed it). Without it the
// server makes its own.
func WithMetrics(m *Metrics) Option { return func(s *Server) { s.metrics = m } }

// WithUpstream tells the status page and /metrics how the forwarder to
// central is doing. Without it the upstream is shown as not configured.
func WithUpstream(f func() UpstreamStatus) Option { return func(s *Server) { s.upstream = f } }

// WithTLS says the listener serves TLS, so answers carry HSTS.
func WithTLS(on bool) Option { return func(s *Server) { s.tls = on } }

// WithAccessLog logs one info line per request answered.
func WithAccessLog(on bool) Option { return func(s *Server) { s.accessLog = on } }

// WithStorageCap tells the status page storage.max_size_bytes.
func WithStorageCap(maxBytes int64) Option { return func(s *Server) { s.maxSize = maxBytes } }

// WithVersion names the running build (version and VCS commit) on the
// status page and in edge_build_info.
func WithVersion(version, commit string) Option {
	return func(s *Server) { s.version, s.commit = version, commit }
}

// UpstreamStatus is what the forwarder to central reports about itself.
// The forwarder (upstream/) fills it; until it exists only Configured is
// known.
type UpstreamStatus struct {
	Configured bool `json:"configured"`
	// Reachable is nil while nothing was tried yet.
	Reachable   *bool     `json:"reachable"`
	LastError   string    `json:"lastError,omitempty"`
	LastContact time.Time `json:"lastContact,omitzero"`
	// Paused is true after central refused the edge's credentials
	// (401/403): nothing is forwarded until an operator acts.
	Paused      bool   `json:"paused"`
	PauseReason string `json:"pauseReason,omitempty"`
	DeadLetters int64  `json:"deadLetters"`
	// Stuck counts pending records failing for longer than
	// upstream.stuck_after.
	Stuck int64 `json:"stuck"`
	// Directory is the last-known copy of central's agents and lines; nil
	// when it is not pulled.
	Directory *DirectoryStatus `json:"directory,omitempty"`
}

// DirectoryStatus is the age and size of the agents and lines last pulled
// from central.
type DirectoryStatus struct {
	PulledAt   *time.Time `json:"pulledAt"` // nil: never pulled
	AgeSeconds float64    `json:"ageSeconds"`
	Agents     int        `json:"agents"`
	Lines      int        `json:"lines"`
	LastError  string     `json:"lastError,omitempty"`
}
