// Package app owns the lifetimes of `enneo-edge serve`. New opens what
// holds a resource but runs nothing (the database, the listener); Run
// starts the loops in order and waits for a signal, a failed commit or the
// end of its context, then drains the HTTP server; Close stops everything
// in the reverse order of its start. The whole start order is in New and
// Run below, one step per lifetime.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/enneo-edge/enneo-edge/cluster"
	"github.com/enneo-edge/enneo-edge/config"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/phone"
	"github.com/enneo-edge/enneo-edge/routing"
	"github.com/enneo-edge/enneo-edge/sdnotify"
	"github.com/enneo-edge/enneo-edge/server"
	"github.com/enneo-edge/enneo-edge/tlsconf"
)

// Options are what the appliance needs besides its config.
type Options struct {
	// Log gets every log line (the journal).
	Log *slog.Logger
	// Stdout gets the lines a person or a script reads: where generated
	// tokens are, and the address the server listens on.
	Stdout io.Writer
	// Precheck refuses a damaged database before it is opened for
	// writing, so the file stays as it was for the operator (main runs
	// `enneo-edge check` in a child process); nil checks nothing.
	Precheck func(path string) error
	// Version and Revision are the build, for /status and /metrics.
	Version, Revision string
	// NoDurability opens the database without any fsync (db.Options):
	// only bench/profile -floor sets it, to measure the floor under the
	// log. serve never does.
	NoDurability bool
}

// App is one run of the appliance.
type App struct {
	cfg config.Config
	o   Options
	log *slog.Logger

	metrics *server.Metrics
	store   *db.Store
	sync    *syncer
	// current is the syncer whose state the status page shows: sync on a
	// single appliance, the current term's on a cluster leader.
	current atomic.Pointer[syncer]
	node    *cluster.Node // nil: a single appliance
	// clusterFailed gets the error that stopped the member's state machine.
	clusterFailed chan error
	ln            net.Listener
	certs         *tlsconf.Reloader // nil without TLS
	srv           *server.Server
	served        chan error
	sigs          chan os.Signal

	stops   []func() error // in start order; Close runs them backwards
	drained bool           // Run has shut the HTTP server down
}

// New replays the write-ahead log, checks and opens the database and binds
// the listener. Nothing runs yet: Run starts the loops. On an error New has
// closed whatever it opened.
func New(cfg config.Config, o Options) (*App, error) {
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	a := &App{cfg: cfg, o: o, log: o.Log, metrics: server.NewMetrics()}
	if err := a.open(); err != nil {
		_ = a.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) open() error {
	path := a.cfg.Storage.Path
	// Replay the write-ahead log first, so the check sees the file as the
	// last acknowledged commit left it.
	if n, err := db.RecoverWAL(path); err != nil {
		return err
	} else if n > 0 {
		a.log.Info("replayed the write-ahead log", "commits", n)
	}
	if a.o.Precheck != nil {
		if err := a.o.Precheck(path); err != nil {
			return err
		}
	}
	maxSize, derived, err := db.ResolveMaxSize(path, a.cfg.Storage.MaxSizeBytes)
	if err != nil {
		return err
	}
	if derived {
		a.log.Info("storage.max_size_bytes derived from the free disk", "bytes", maxSize, "keptIn", db.MaxSizeFile(path))
	}
	a.cfg.Storage.MaxSizeBytes = maxSize
	so := StoreOptions(a.cfg, a.metrics)
	so.Recovered = true // replayed above: once is enough
	if a.o.NoDurability {
		so.NoDurability = true
		a.log.Warn("database opened WITHOUT DURABILITY (bench/profile -floor): nothing is fsynced, a crash loses calls; for measurements only", "path", path)
	}
	if a.store, err = db.Open(path, so); err != nil {
		return err
	}
	a.push(func() error {
		if err := a.store.Close(); err != nil {
			a.log.Error("close database", "err", err)
			return fmt.Errorf("close database: %w", err)
		}
		return nil
	})
	if err := a.store.LogUnavailable(); err != nil {
		if a.cfg.Storage.WAL.Required() {
			return fmt.Errorf("storage.wal = true, but the write-ahead log cannot be used here: %w; "+
				"set storage.wal = \"auto\" to run without it (bbolt fsyncs every commit, about twice the latency) or false", err)
		}
		a.log.Warn("running without the write-ahead log (storage.wal = \"auto\"): bbolt fsyncs every commit itself", "err", err)
	}
	if a.sync, err = newSyncer(a.cfg, a.store, a.metrics, a.log); err != nil {
		return fmt.Errorf("upstream.ca_file: %w", err)
	}
	// Bind before Run makes tokens: a token generated for a start that
	// then fails to bind would be one nobody ever used.
	if a.ln, a.certs, err = listen(a.cfg); err != nil {
		return err
	}
	a.push(func() error { _ = a.ln.Close(); return nil }) // Shutdown has closed it already, unless Run never served
	return nil
}

// Run starts the commit loop, the HTTP server and the background loops,
// tells systemd the service is ready once it answers, and returns on
// SIGTERM or SIGINT, when ctx ends (nil, after draining the server), when a
// commit fails (that error, after draining) or when the server stops
// serving. SIGHUP rereads the TLS certificate. Close must follow, whatever
// Run returned.
func (a *App) Run(ctx context.Context) error {
	if err := a.start(); err != nil {
		return err
	}
	var failed error
wait:
	for {
		select {
		case err := <-a.served:
			return fmt.Errorf("serve: %w", err)
		case err := <-a.clusterFailed:
			failed = fmt.Errorf("cluster: %w", err)
			a.log.Error("the cluster member failed; exiting so the service restarts and catches up", "err", err)
			break wait
		case <-a.store.Fatal():
			// Calls in flight were answered 5xx; carrying on would
			// acknowledge writes on top of an unknown state.
			failed = fmt.Errorf("database %s: commit failed, exiting so the service restarts from the file: %w", a.store.Path(), a.store.Failed())
			a.log.Error("commit failed; exiting", "err", a.store.Failed())
			break wait
		case sig := <-a.sigs:
			if sig == syscall.SIGHUP {
				reloadCerts(a.certs, a.log)
				continue
			}
			a.log.Info("shutting down", "signal", sig.String())
			break wait
		case <-ctx.Done():
			a.log.Info("shutting down", "reason", context.Cause(ctx).Error())
			break wait
		}
	}
	_ = sdnotify.Stopping()
	// In-flight calls finish their commits before anything below the
	// server stops.
	if err := a.shutdown(); err != nil && failed == nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return failed
}

// start is the start order; each step pushes its stop.
func (a *App) start() error {
	// 1. The commit loop: everything below writes through it.
	storeCtx, stopStore := context.WithCancel(context.Background())
	go a.store.Run(storeCtx)
	a.push(nilErr(stopStore)) // runs before the database's Close, which waits for Run
	go a.establishCounts(storeCtx)
	a.current.Store(a.sync)

	// 1b. In a cluster, the member: from here on every write of the store
	// goes through the replicated log.
	if a.cfg.Cluster.Enabled() {
		if err := a.startCluster(); err != nil {
			return err
		}
	}

	// 2. Credentials (generating tokens writes them) and the server.
	tokens, err := apiTokens(a.cfg, a.store, a.o.Stdout, a.log)
	if err != nil {
		return err
	}
	auth, err := NewAuthenticator(a.cfg, tokens)
	if err != nil {
		return err
	}
	pn, err := phone.NewNormalizer(a.cfg.Site.PhoneRegion)
	if err != nil {
		return fmt.Errorf("site.phone_region: %w", err)
	}
	opts := []server.Option{
		server.WithMetrics(a.metrics), server.WithVersion(a.o.Version, a.o.Revision), server.WithUpstream(a.upstreamStatus),
		server.WithAccessLog(a.cfg.Log.Access), server.WithStorageCap(a.cfg.Storage.MaxSizeBytes),
		server.WithTLS(a.certs != nil),
	}
	if a.node != nil {
		opts = append(opts, server.WithCluster(a.node))
	}
	a.srv = server.New(a.store, auth, pn, a.log, ServerLimits(a.cfg), opts...)

	if a.node == nil {
		// 3. The routing timers (ring, after-call work, maximum wait).
		timers := routing.NewLoop(a.store, a.cfg.Routing.TimerInterval.Duration, nil, a.log)
		a.push(nilErr(runLoop(timers.Run, timers.Close)))

		// 4. The forwarder, the directory pull and the pruner.
		a.push(nilErr(a.sync.start(a.srv)))
	} else {
		// 3-4. In a cluster only the leader runs them, each term anew.
		a.push(nilErr(a.runLeading()))
	}

	// 5. Signals, caught before the server answers anyone: systemd may
	// reload or stop the service as soon as it is told the service is up,
	// and a script that sees the listening line or a 200 from /readyz may
	// stop it at once; caught from here, such a SIGTERM drains the server
	// (Run handles it after start) instead of killing the process.
	a.sigs = make(chan os.Signal, 1)
	signal.Notify(a.sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	a.push(nilErr(func() { signal.Stop(a.sigs) }))

	// 6. The HTTP server on the bound listener.
	a.served = make(chan error, 1)
	go func() { a.served <- a.srv.Serve(a.ln) }()
	a.push(func() error {
		if err := a.shutdown(); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		return nil
	})
	// Tests and scripts read this line to learn the port when listen is :0.
	tlsOn := a.certs != nil
	fmt.Fprintf(a.o.Stdout, "enneo-edge listening on %s (database %s, site %d)\n", listenDescription(a.ln, tlsOn), a.store.Path(), a.cfg.Site.ID)
	a.log.Info("serving", "addr", a.ln.Addr().String(), "tls", tlsOn, "db", a.store.Path(), "upstream", a.cfg.Upstream.URL != "")

	// 7. READY once a probe commits and the listener answers, then the
	// watchdog.
	stopWatchdog, err := notifyReady(a.store, baseURL(a.ln, tlsOn), a.log)
	if err != nil {
		return err
	}
	a.push(nilErr(stopWatchdog))

	// 8. The alerts in the journal and `systemctl status`.
	a.push(nilErr(startAlerts(a.store, a.sync.status, a.log)))
	return nil
}

// Close stops what New and Run started, in reverse order: the alerts, the
// watchdog, the signals, the server (unless Run drained it), the
// forwarder, puller and pruner, the timers, the listener, the commit loop
// and last the database file. It returns once all of them have stopped.
// A second Close does nothing.
func (a *App) Close() error {
	var errs []error
	for i := len(a.stops) - 1; i >= 0; i-- {
		errs = append(errs, a.stops[i]())
	}
	a.stops = nil
	return errors.Join(errs...)
}

func (a *App) push(stop func() error) { a.stops = append(a.stops, stop) }

func nilErr(stop func()) func() error { return func() error { stop(); return nil } }

// shutdown stops the server once, waiting server.shutdown_timeout at most
// for the requests in flight.
func (a *App) shutdown() error {
	if a.drained {
		return nil
	}
	a.drained = true
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Server.ShutdownTimeout.Duration)
	defer cancel()
	return a.srv.Shutdown(ctx)
}

// establishCounts walks a file from an earlier version, which has no kept
// counts yet, once beside the calls rather than before the first one.
func (a *App) establishCounts(ctx context.Context) {
	start := time.Now()
	walked, err := a.store.EstablishCounts(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		a.log.Warn("counting tickets and customers failed; /metrics and the status page count them by walking until the next start", "err", err)
	case walked && err == nil:
		a.log.Info("counted tickets and customers once (database from an earlier version)", "took", time.Since(start).Round(time.Millisecond).String())
	}
}

// runLoop starts a background loop and returns its stop: cancel its
// context, then wait for it.
func runLoop(run func(context.Context), closeFn func()) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	go run(ctx)
	return func() { cancel(); closeFn() }
}
