package main

import (
	"context"
	"log/slog"

	"github.com/enneo-edge/enneo-edge/config"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/retention"
	"github.com/enneo-edge/enneo-edge/server"
	"github.com/enneo-edge/enneo-edge/upstream"
)

// startSync starts the background work beside the server: the forwarder
// to central (only when upstream.url is set; air-gapped otherwise) and the
// pruner of synced tickets (unless retention.synced is 0). The returned
// function stops both and waits for them.
func startSync(cfg config.Config, store *db.Store, srv *server.Server, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var closers []func()
	if u := cfg.Upstream; u.URL != "" {
		fwd := upstream.New(store, nil, log, nil, upstream.Options{
			URL: u.URL, Token: u.Token, Workers: u.Workers, Timeout: u.Timeout.Duration,
			BackoffMin: u.BackoffMin.Duration, BackoffMax: u.BackoffMax.Duration,
			PausedRetry: u.PausedRetry.Duration, MaxAttempts: u.MaxAttempts,
		})
		srv.SetForwarder(fwd)
		go fwd.Run(ctx)
		closers = append(closers, fwd.Close)
		log.Info("forwarding to central", "url", u.URL, "workers", u.Workers)
	} else {
		log.Info("air-gapped: no upstream.url, nothing is forwarded; the outbox keeps every record")
	}
	if keep := cfg.Retention.Synced.Duration; keep > 0 {
		p := retention.New(store, log, keep, 0, nil, nil)
		go p.Run(ctx)
		closers = append(closers, p.Close)
	}
	return func() {
		cancel()
		for _, c := range closers {
			c()
		}
	}
}
