package server

import "github.com/enneo-edge/enneo-edge/health"

// Option adds an optional part to a Server built by New.
type Option func(*Server)

// WithMetrics makes the server record into m (built by NewMetrics before
// the store, so the store's commit hook can feed it). Without it the
// server makes its own.
func WithMetrics(m *Metrics) Option { return func(s *Server) { s.metrics = m } }

// WithUpstream tells the status page and /metrics how the forwarder to
// central is doing. Without it the upstream is shown as not configured.
func WithUpstream(f func() health.Upstream) Option { return func(s *Server) { s.upstream = f } }

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
