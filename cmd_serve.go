package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/enneo-edge/enneo-edge/config"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/phone"
	"github.com/enneo-edge/enneo-edge/routing"
	"github.com/enneo-edge/enneo-edge/sdnotify"
	"github.com/enneo-edge/enneo-edge/server"
	"github.com/enneo-edge/enneo-edge/tlsconf"
)

func runServe(args []string) error {
	fs := newFlags("serve")
	cfgPath := fs.String("config", config.DefaultPath, "TOML config file")
	debug := fs.Bool("debug", false, "log every call (log.level = \"debug\")")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 0, 0, "no arguments"); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	level := cfg.Log.SlogLevel()
	if *debug {
		level = slog.LevelDebug
	}
	log := newLogger(level)

	// Replay the write-ahead log first, so the check sees the file as the
	// last acknowledged commit left it.
	if n, err := db.RecoverWAL(cfg.Storage.Path); err != nil {
		return err
	} else if n > 0 {
		log.Info("replayed the write-ahead log", "commits", n)
	}
	if err := precheck(cfg.Storage.Path); err != nil {
		return err
	}
	maxSize, derived, err := db.ResolveMaxSize(cfg.Storage.Path, cfg.Storage.MaxSizeBytes)
	if err != nil {
		return err
	}
	if derived {
		log.Info("storage.max_size_bytes derived from the free disk", "bytes", maxSize, "keptIn", db.MaxSizeFile(cfg.Storage.Path))
	}
	metrics := server.NewMetrics()
	cfg.Storage.MaxSizeBytes = maxSize
	store, err := db.Open(cfg.Storage.Path, storeOptions(cfg, metrics))
	if err != nil {
		return err
	}
	if err := store.LogUnavailable(); err != nil {
		if cfg.Storage.WAL.Required() {
			_ = store.Close()
			return fmt.Errorf("storage.wal = true, but the write-ahead log cannot be used here: %w; "+
				"set storage.wal = \"auto\" to run without it (bbolt fsyncs every commit, about twice the latency) or false", err)
		}
		log.Warn("running without the write-ahead log (storage.wal = \"auto\"): bbolt fsyncs every commit itself", "err", err)
	}
	storeCtx, stopStore := context.WithCancel(context.Background())
	go store.Run(storeCtx)
	go func() {
		// A file from an earlier version has no kept counts yet: walk it
		// once beside the calls rather than before the first one.
		start := time.Now()
		walked, err := store.EstablishCounts(storeCtx)
		switch {
		case err != nil && storeCtx.Err() == nil:
			log.Warn("counting tickets and customers failed; /metrics and the status page count them by walking until the next start", "err", err)
		case walked && err == nil:
			log.Info("counted tickets and customers once (database from an earlier version)", "took", time.Since(start).Round(time.Millisecond).String())
		}
	}()
	// Stop in reverse order of start: the server first (in-flight calls
	// finish their commits), then the commit loop, then the file.
	defer func() {
		stopStore()
		if err := store.Close(); err != nil {
			log.Error("close database", "err", err)
		}
	}()

	syncer, err := newSyncer(cfg, store, metrics, log)
	if err != nil {
		return fmt.Errorf("upstream.ca_file: %w", err)
	}
	upstream := syncer.status
	// Bind first: a token generated for a start that then fails to bind
	// would be one nobody ever used.
	ln, certs, err := listen(cfg)
	if err != nil {
		return err
	}
	defer ln.Close()
	tokens, err := apiTokens(cfg, store, os.Stdout, log)
	if err != nil {
		return err
	}
	a, err := newAuthenticator(cfg, tokens)
	if err != nil {
		return err
	}
	pn, err := phone.NewNormalizer(cfg.Site.PhoneRegion)
	if err != nil {
		return fmt.Errorf("site.phone_region: %w", err)
	}
	srv := server.New(store, a, pn, log, serverLimits(cfg),
		server.WithMetrics(metrics), server.WithVersion(buildInfo()), server.WithUpstream(upstream),
		server.WithAccessLog(cfg.Log.Access), server.WithStorageCap(cfg.Storage.MaxSizeBytes),
		server.WithTLS(certs != nil))
	// The routing timers (ring, after-call work, maximum wait) run beside
	// the server and stop before the commit loop does.
	timers := routing.NewLoop(store, cfg.Routing.TimerInterval.Duration, nil, log)
	timersCtx, stopTimers := context.WithCancel(context.Background())
	go timers.Run(timersCtx)
	defer func() {
		stopTimers()
		timers.Close()
	}()
	stopSync := syncer.start(srv)
	// Registered after the store's close, so it runs before it: the
	// forwarder and pruner stop before the commit loop does.
	defer stopSync()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// Tests and scripts read this line to learn the port when listen is :0.
	url := baseURL(ln, certs != nil)
	fmt.Printf("enneo-edge listening on %s (database %s, site %d)\n", listenDescription(ln, certs != nil), store.Path(), cfg.Site.ID)
	log.Info("serving", "addr", ln.Addr().String(), "tls", certs != nil, "db", store.Path(), "upstream", cfg.Upstream.URL != "")
	// Signals are caught before READY: systemd may reload or stop the
	// service as soon as it is told the service is up.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	stopWatchdog, err := notifyReady(store, url, log)
	if err != nil {
		return err
	}
	defer stopWatchdog()
	defer startAlerts(store, upstream, log)()
	var failed error
wait:
	for {
		select {
		case err := <-served:
			return fmt.Errorf("serve: %w", err)
		case <-store.Fatal():
			// Calls in flight were answered 5xx; carrying on would
			// acknowledge writes on top of an unknown state.
			failed = fmt.Errorf("database %s: commit failed, exiting so the service restarts from the file: %w", store.Path(), store.Failed())
			log.Error("commit failed; exiting", "err", store.Failed())
			break wait
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				reloadCerts(certs, log)
				continue
			}
			log.Info("shutting down", "signal", sig.String())
			break wait
		}
	}
	_ = sdnotify.Stopping()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.Duration)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && failed == nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return failed
}

// reloadCerts rereads the TLS certificate on SIGHUP; a bad file keeps the
// one in use.
func reloadCerts(certs *tlsconf.Reloader, log *slog.Logger) {
	if certs == nil {
		log.Info("SIGHUP: no TLS certificate configured, nothing to reload")
		return
	}
	if err := certs.Reload(); err != nil {
		log.Error("SIGHUP: TLS certificate not reloaded; keeping the one in use", "err", err)
		return
	}
	log.Info("SIGHUP: TLS certificate reloaded", "notAfter", certs.NotAfter())
}

// newLogger writes text for a person at a terminal and JSON for the
// journal.
func newLogger(level slog.Level) *slog.Logger {
	o := &slog.HandlerOptions{Level: level}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		return slog.New(slog.NewTextHandler(os.Stderr, o))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, o))
}

// storeOptions are the database options serve (and bench's private
// appliance) derive from the config.
func storeOptions(cfg config.Config, metrics *server.Metrics) db.Options {
	return db.Options{SiteID: cfg.Site.ID,
		MaxSize: cfg.Storage.MaxSizeBytes, OnCommit: metrics.ObserveCommit,
		OnLogSync: metrics.ObserveLogSync, OnCheckpoint: metrics.ObserveCheckpoint,
		DisableWAL: !cfg.Storage.WAL.Enabled(),
		Routing: routing.Config{
			RingTimeout:       cfg.Routing.RingTimeout.Duration,
			MaxWait:           cfg.Routing.MaxWait.Duration,
			ACW:               cfg.Routing.ACW.Duration,
			DefaultHandleTime: cfg.Routing.DefaultHandleTime.Duration,
			SubchannelTags:    cfg.Routing.Tags(),
		}}
}

// serverLimits are the HTTP limits of the config.
func serverLimits(cfg config.Config) server.Limits {
	return server.Limits{
		ReadTimeout:     cfg.Server.ReadTimeout.Duration,
		WriteTimeout:    cfg.Server.WriteTimeout.Duration,
		IdleTimeout:     cfg.Server.IdleTimeout.Duration,
		MaxBodyBytes:    cfg.Server.MaxBodyBytes,
		ReadBufferBytes: cfg.Server.ReadBufferBytes,
		MaxConnections:  cfg.Server.MaxConnections,

		MaxPendingCommits:       cfg.Server.MaxPendingCommits,
		MaxConnsPerIP:           cfg.Server.MaxConnsPerIP,
		MaxCallBodyBytes:        cfg.Server.MaxCallBodyBytes,
		CallsPerSecondPerClient: cfg.Server.MaxCallsPerSecondPerClient,
	}
}
