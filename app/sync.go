package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/enneo-edge/enneo-edge/config"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/health"
	"github.com/enneo-edge/enneo-edge/retention"
	"github.com/enneo-edge/enneo-edge/server"
	"github.com/enneo-edge/enneo-edge/tlsconf"
	"github.com/enneo-edge/enneo-edge/upstream"
)

// syncer is the background work beside the server: the forwarder to
// central (only when upstream.url is set; air-gapped otherwise) and the
// pruner of synced tickets (unless retention.synced is 0), or air-gapped
// of old tickets (unless retention.air_gapped is 0).
type syncer struct {
	store  *db.Store
	fwd    *upstream.Forwarder // nil when air-gapped
	puller *upstream.Puller    // nil when air-gapped or upstream.pull_interval is 0
	pruner *retention.Pruner   // nil when tickets are kept forever
	log    *slog.Logger
}

// newSyncer builds the forwarder and pruner without starting them, so the
// server can report their state from its first request.
func newSyncer(cfg config.Config, store *db.Store, metrics *server.Metrics, log *slog.Logger) (*syncer, error) {
	s := &syncer{store: store, log: log}
	if u := cfg.Upstream; u.URL != "" {
		tlsConfig, err := tlsconf.ClientConfig(u.CAFile)
		if err != nil {
			return nil, err
		}
		opt := upstream.Options{
			URL: u.URL, Token: u.Token, Workers: u.Workers, Timeout: u.Timeout.Duration,
			BackoffMin: u.BackoffMin.Duration, BackoffMax: u.BackoffMax.Duration,
			PausedRetry: u.PausedRetry.Duration, MaxAttempts: u.MaxAttempts,
			Auth: u.Auth, InternalToken: u.InternalToken, LookupDelay: u.LookupDelay.Duration,
			StuckAfter: u.StuckAfter.Duration,
			OnAnswer:   metrics.ObserveUpstream,
		}
		client := upstream.NewHTTPClient(u.Workers, tlsConfig)
		s.fwd = upstream.New(store, client, log, nil, opt)
		if every := u.PullInterval.Duration; every > 0 {
			opt.OnAnswer = nil
			s.puller = upstream.NewPuller(store, client, log, nil, opt, every)
		}
	}
	switch {
	case s.fwd != nil && cfg.Retention.Synced.Duration > 0:
		s.pruner = retention.New(store, log, cfg.Retention.Synced.Duration, 0, nil)
	case s.fwd == nil && cfg.Retention.AirGapped.Duration > 0:
		// Nothing syncs without upstream: the only copy is kept for
		// retention.air_gapped after its last change, then deleted.
		s.pruner = retention.NewAirGapped(store, log, cfg.Retention.AirGapped.Duration, 0, nil)
		log.Info("air-gapped: tickets and their records are deleted after retention.air_gapped from their last change; export them before with enneo-edge export",
			"keep", cfg.Retention.AirGapped.String())
	}
	return s, nil
}

// status is what the status page, the alerts and the watchdog learn about
// central.
func (s *syncer) status() health.Upstream {
	st := health.Upstream{Configured: s.fwd != nil}
	if ob, err := s.store.OutboxStatus(); err == nil {
		st.DeadLetters = ob.DeadLetters
	}
	if s.fwd == nil {
		return st
	}
	if _, n, err := s.store.StuckOutbox(time.Now().Add(-s.fwd.StuckAfter()), 0); err == nil {
		st.Stuck = n
	}
	if s.puller != nil {
		d := &health.Directory{}
		if ds, err := s.store.DirectoryState(); err == nil && !ds.PulledAt.IsZero() {
			at := ds.PulledAt
			d.PulledAt, d.AgeSeconds, d.Agents, d.Lines = &at, time.Since(at).Seconds(), ds.Agents, ds.Lines
		}
		d.LastError, _ = s.puller.LastError()
		st.Directory = d
	}
	f := s.fwd.Status()
	if f.LastSuccessAt != nil {
		st.LastContact = *f.LastSuccessAt
	}
	if f.FailuresInARow > 0 || f.LastSuccessAt != nil {
		ok := f.FailuresInARow == 0
		st.Reachable = &ok
	}
	st.LastError = f.LastError
	st.Paused, st.PauseReason = f.Paused, f.PausedReason
	return st
}

// start runs the forwarder and pruner; the returned function stops both
// and waits for them.
func (s *syncer) start(srv *server.Server) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var closers []func()
	if s.fwd != nil {
		srv.SetForwarder(s.fwd)
		go s.fwd.Run(ctx)
		closers = append(closers, s.fwd.Close)
		s.log.Info("forwarding to central")
		if s.puller != nil {
			go s.puller.Run(ctx)
			closers = append(closers, s.puller.Close)
		}
	} else {
		s.log.Info("air-gapped: no upstream.url, nothing is forwarded; the outbox keeps every record")
	}
	if s.pruner != nil {
		go s.pruner.Run(ctx)
		closers = append(closers, s.pruner.Close)
	}
	return func() {
		cancel()
		for _, c := range closers {
			c()
		}
	}
}
