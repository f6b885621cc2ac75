package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/health"
	"github.com/enneo-edge/enneo-edge/sdnotify"
)

// readier is what the health check needs of the database (db.Store).
type readier interface {
	Ready(ctx context.Context) error
}

// healthCheck is what feeds the watchdog: the commit loop commits a probe
// (a full database still proves the loop alive: restarting would not free
// space) and the listener answers /healthz.
func healthCheck(store readier, url string) func(context.Context) error {
	client := &http.Client{Transport: &http.Transport{
		// Our own listener: the check is that it answers, not who it is.
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
		DisableKeepAlives: true,
	}}
	return func(ctx context.Context) error {
		if err := store.Ready(ctx); err != nil && !errors.Is(err, db.ErrFull) {
			return fmt.Errorf("database: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, "GET", url+"/healthz", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("listener: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("listener: /healthz answered %d", resp.StatusCode)
		}
		return nil
	}
}

// notifyReady tells systemd the service answers, once the listener is
// proven to, and starts the watchdog when systemd asked for one. The
// returned stop function ends the watchdog.
func notifyReady(store readier, url string, log *slog.Logger) (stop func(), err error) {
	check := healthCheck(store, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err = check(ctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("not ready: %w", err)
	}
	if err := sdnotify.Ready(); err != nil {
		log.Warn("notify systemd", "err", err)
	}
	w, err := sdnotify.NewWatchdog(check, log)
	if err != nil || w == nil {
		if err != nil {
			log.Warn("systemd watchdog", "err", err)
		}
		return func() {}, nil
	}
	wctx, wcancel := context.WithCancel(context.Background())
	go w.Run(wctx)
	log.Info("feeding the systemd watchdog while healthy", "interval", w.Interval().String())
	return func() { wcancel(); w.Close() }, nil
}

// startAlerts logs outbox pauses, dead letters and an old backlog, and
// keeps `systemctl status` current. The returned function stops it.
func startAlerts(store *db.Store, upstream func() health.Upstream, log *slog.Logger) (stop func()) {
	a := health.NewAlerts(store, upstream, log, nil, 10*time.Second, 5*time.Minute, func(line string) { _ = sdnotify.Status(line) })
	ctx, cancel := context.WithCancel(context.Background())
	go a.Run(ctx)
	return func() { cancel(); a.Close() }
}
