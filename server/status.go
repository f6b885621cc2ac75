package server

import (
	"context"
	"embed"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/enneo-edge/enneo-edge/cluster"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/model"
)

// statusPage is the operator's page: one self-contained HTML file (no CDN,
// works air-gapped) that polls /edge/v1/status.
//
//go:embed status/index.html
var statusFS embed.FS

// maxAgentsShown bounds the agents listed on the status page.
const maxAgentsShown = 200

// Status is the answer of GET /edge/v1/status, what the status page shows.
type Status struct {
	Success       bool    `json:"success"`
	Version       string  `json:"version"`
	Commit        string  `json:"commit"`
	UptimeSeconds float64 `json:"uptimeSeconds"`
	Calls         Recent  `json:"calls"`
	// History is the chart: calls and latency over the last ten minutes.
	History []Point         `json:"history"`
	Agents  []AgentStatus   `json:"agents"`
	Queue   db.QueueStatus  `json:"queue"`
	Outbox  db.OutboxStatus `json:"outbox"`
	// AirGapped is true without upstream.url: the outbox is not a backlog
	// but the site's record, kept locally.
	AirGapped bool           `json:"airGapped"`
	Upstream  UpstreamStatus `json:"upstream"`
	// Refused counts the requests refused since start by status code.
	Refused  map[string]uint64 `json:"refused"`
	Database DatabaseStatus    `json:"database"`
	// Cluster is this member's view of the cluster; nil on a single
	// appliance.
	Cluster *cluster.Status `json:"cluster,omitempty"`
}

// AgentStatus is an agent's presence with the name PUT /edge/v1/agents
// gave them ("" for a user only seen through routingStatus).
type AgentStatus struct {
	model.Presence
	Name string `json:"name"`
}

// DatabaseStatus is the store's part of Status.
type DatabaseStatus struct {
	Path string `json:"path"`
	// SizeBytes is the file alone; TotalBytes adds the write-ahead log's
	// files, what the database takes on disk.
	SizeBytes  int64 `json:"sizeBytes"`
	LogBytes   int64 `json:"logBytes"`
	TotalBytes int64 `json:"totalBytes"`
	// FreeBytes is what the file system has left; MaxSizeBytes is
	// storage.max_size_bytes (0: no cap).
	FreeBytes    int64     `json:"freeBytes"`
	MaxSizeBytes int64     `json:"maxSizeBytes"`
	Tickets      int       `json:"tickets"`
	Customers    int       `json:"customers"`
	WAL          WALStatus `json:"wal"`
	// Failed is the commit error that stopped writes, if any: the process
	// is about to exit and restart.
	Failed string `json:"failed,omitempty"`
}

// WALStatus says whether commits go through the write-ahead log, and why
// not when it was asked for and could not be used (storage.wal = "auto"
// on a file system without fallocate or room).
type WALStatus struct {
	Enabled bool   `json:"enabled"`
	Reason  string `json:"reason,omitempty"`
}

func (s *Server) walStatus() WALStatus {
	w := WALStatus{Enabled: s.store.LogStats().Enabled}
	if err := s.store.LogUnavailable(); err != nil {
		w.Reason = err.Error()
	}
	return w
}

func (s *Server) status(ctx *fasthttp.RequestCtx) {
	st := Status{
		Success:       true,
		Version:       s.version,
		Commit:        s.commit,
		UptimeSeconds: time.Since(s.started).Seconds(),
		Calls:         s.metrics.calls.recent(),
		History:       s.metrics.history.points(),
		AirGapped:     s.upstream == nil || !s.upstreamStatus().Configured,
		Upstream:      s.upstreamStatus(),
		Refused:       map[string]uint64{},
		Database:      DatabaseStatus{Path: s.store.Path(), MaxSizeBytes: s.maxSize, WAL: s.walStatus()},
	}
	if s.cluster != nil {
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		cs := s.cluster.Status(c, true)
		cancel()
		st.Cluster = &cs
	}
	for code, n := range s.metrics.RefusedCounts() {
		st.Refused[strconv.Itoa(code)] = n
	}
	var err error
	if st.Agents, err = s.agentStatus(); err != nil {
		s.writeError(ctx, err)
		return
	}
	if st.Queue, err = s.store.WaitingQueue(); err != nil {
		s.writeError(ctx, err)
		return
	}
	if st.Outbox, err = s.store.OutboxStatus(); err != nil {
		s.writeError(ctx, err)
		return
	}
	d := &st.Database
	fp, err := s.store.Footprint()
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	d.SizeBytes, d.LogBytes, d.TotalBytes, d.FreeBytes = fp.FileBytes, fp.LogBytes, fp.FileBytes+fp.LogBytes, fp.FreeBytes
	if d.Tickets, err = s.store.TicketCount(); err != nil {
		s.writeError(ctx, err)
		return
	}
	if d.Customers, err = s.store.CustomerCount(); err != nil {
		s.writeError(ctx, err)
		return
	}
	if f := s.store.Failed(); f != nil {
		d.Failed = f.Error()
	}
	writeJSON(ctx, fasthttp.StatusOK, st)
}

// agentStatus is the first maxAgentsShown presences with their names.
func (s *Server) agentStatus() ([]AgentStatus, error) {
	ps, err := s.store.Presences(maxAgentsShown)
	if err != nil {
		return nil, err
	}
	agents, err := s.store.Agents()
	if err != nil {
		return nil, err
	}
	names := make(map[int64]string, len(agents))
	for _, a := range agents {
		names[a.ID] = a.Name
	}
	out := make([]AgentStatus, len(ps))
	for i, p := range ps {
		out[i] = AgentStatus{Presence: p, Name: names[p.UserID]}
	}
	return out, nil
}

// statusPage serves the page itself; it holds no data, so it needs no
// credentials (the data route does).
func (s *Server) statusPage(ctx *fasthttp.RequestCtx) {
	b, err := statusFS.ReadFile("status/index.html")
	if err != nil {
		writeErrorText(ctx, fasthttp.StatusInternalServerError, "internal error: status page missing")
		return
	}
	ctx.SetContentType("text/html; charset=utf-8")
	// The page loads nothing from elsewhere and runs only its own script.
	ctx.Response.Header.Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'; frame-ancestors 'none'")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetBody(b)
}

func (s *Server) upstreamStatus() UpstreamStatus {
	if s.upstream == nil {
		return UpstreamStatus{}
	}
	return s.upstream()
}
