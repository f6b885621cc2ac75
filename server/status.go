package server

import (
	"embed"
	"time"

	"github.com/valyala/fasthttp"

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
	Success       bool             `json:"success"`
	Version       string           `json:"version"`
	UptimeSeconds float64          `json:"uptimeSeconds"`
	Calls         Recent           `json:"calls"`
	Agents        []model.Presence `json:"agents"`
	Queue         db.QueueStatus   `json:"queue"`
	Outbox        db.OutboxStatus  `json:"outbox"`
	Upstream      UpstreamStatus   `json:"upstream"`
	Database      DatabaseStatus   `json:"database"`
}

// DatabaseStatus is the store's part of Status.
type DatabaseStatus struct {
	Path      string `json:"path"`
	SizeBytes int64  `json:"sizeBytes"`
	Tickets   int    `json:"tickets"`
	Customers int    `json:"customers"`
	// Failed is the commit error that stopped writes, if any: the process
	// is about to exit and restart.
	Failed string `json:"failed,omitempty"`
}

func (s *Server) status(ctx *fasthttp.RequestCtx) {
	st := Status{
		Success:       true,
		Version:       s.version,
		UptimeSeconds: time.Since(s.started).Seconds(),
		Calls:         s.metrics.calls.recent(),
		Upstream:      s.upstreamStatus(),
		Database:      DatabaseStatus{Path: s.store.Path()},
	}
	var err error
	if st.Agents, err = s.store.Presences(maxAgentsShown); err != nil {
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
	if d.SizeBytes, err = s.store.FileSize(); err != nil {
		s.writeError(ctx, err)
		return
	}
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
