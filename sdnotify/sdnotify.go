// Package sdnotify tells systemd how the service is doing: READY once it
// can answer, STOPPING when it shuts down, and watchdog pings only while a
// real health check passes, so a wedged process is restarted.
package sdnotify

import (
	"context"
	"log/slog"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Ready says the service answers requests. Outside systemd (no
// NOTIFY_SOCKET) it does nothing.
func Ready() error { return send(daemon.SdNotifyReady) }

// Stopping says shutdown began, so systemd does not count the wait as a
// hang.
func Stopping() error { return send(daemon.SdNotifyStopping) }

// Status sets the one-line status `systemctl status` shows.
func Status(s string) error { return send("STATUS=" + s) }

func send(state string) error {
	_, err := daemon.SdNotify(false, state)
	return err
}

// Watchdog pings systemd's watchdog every half interval, but only after
// Check passed, so a wedged commit loop or listener stops the pings and
// systemd restarts the process.
type Watchdog struct {
	interval time.Duration
	check    func(context.Context) error
	log      *slog.Logger
	done     chan struct{}
}

// NewWatchdog reads the interval systemd asked for (WatchdogSec=, passed as
// WATCHDOG_USEC). It returns nil when the watchdog is off.
func NewWatchdog(check func(context.Context) error, log *slog.Logger) (*Watchdog, error) {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil || d == 0 {
		return nil, err
	}
	return &Watchdog{interval: d, check: check, log: log, done: make(chan struct{})}, nil
}

// Interval is the watchdog timeout systemd enforces.
func (w *Watchdog) Interval() time.Duration { return w.interval }

// Run checks and pings until ctx ends. A check gets half an interval to
// answer; a failed one is logged and not pinged for.
func (w *Watchdog) Run(ctx context.Context) {
	defer close(w.done)
	tick := time.NewTicker(w.interval / 2)
	defer tick.Stop()
	failing := false
	for {
		cctx, cancel := context.WithTimeout(ctx, w.interval/2)
		err := w.check(cctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				w.log.Warn("health check failed; not feeding the systemd watchdog", "err", err)
			}
			failing = true
		default:
			if failing {
				w.log.Info("health check passes again; feeding the systemd watchdog")
			}
			failing = false
			if err := send(daemon.SdNotifyWatchdog); err != nil {
				w.log.Warn("notify systemd watchdog", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Close waits for Run to return; start Run and cancel its context first.
func (w *Watchdog) Close() { <-w.done }
