package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/enneo-edge/enneo-edge/app"
	"github.com/enneo-edge/enneo-edge/auth"
	"github.com/enneo-edge/enneo-edge/config"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/model"
	"github.com/enneo-edge/enneo-edge/phone"
	"github.com/enneo-edge/enneo-edge/routing"
	"github.com/enneo-edge/enneo-edge/server"
)

// privateAgents is how many agents the private appliance knows, all idle:
// the default mix's outbound calls name agents 1..200 and its native calls
// are routed to them.
const privateAgents = 200

// privateAppliance is a whole appliance (store with its write-ahead log,
// routing timers, server) that bench starts inside its own process on a
// temporary database, so a run without -url changes nothing that exists.
type privateAppliance struct {
	URL, Token, Dir string

	srv        *server.Server
	store      *db.Store
	timers     *routing.Loop
	stopStore  context.CancelFunc
	stopTimers context.CancelFunc
}

// startPrivate opens the appliance under a new directory in dir (the
// system's temporary directory when empty), with the embedded default
// config except the database path and a listener on a free loopback port.
func startPrivate(dir string) (_ *privateAppliance, err error) {
	tmp, err := os.MkdirTemp(dir, "enneo-edge-bench-")
	if err != nil {
		return nil, fmt.Errorf("private appliance: %w", err)
	}
	p := &privateAppliance{Dir: tmp}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	cfg := config.Default()
	cfg.Storage.Path = filepath.Join(tmp, "edge.db")
	cfg.Storage.MaxSizeBytes = 0 // a throwaway database needs no cap
	metrics := server.NewMetrics()
	p.store, err = db.Open(cfg.Storage.Path, app.StoreOptions(cfg, metrics))
	if err != nil {
		return nil, fmt.Errorf("private appliance: %w", err)
	}
	var storeCtx context.Context
	storeCtx, p.stopStore = context.WithCancel(context.Background())
	go p.store.Run(storeCtx)
	if p.Token, err = auth.GenerateToken(); err != nil {
		return nil, err
	}
	a, err := app.NewAuthenticator(cfg, auth.Options{Tokens: []string{p.Token}})
	if err != nil {
		return nil, err
	}
	pn, err := phone.NewNormalizer(cfg.Site.PhoneRegion)
	if err != nil {
		return nil, err
	}
	if err := seedAgents(p.store, privateAgents); err != nil {
		return nil, fmt.Errorf("private appliance: %w", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p.timers = routing.NewLoop(p.store, cfg.Routing.TimerInterval.Duration, nil, log)
	var timersCtx context.Context
	timersCtx, p.stopTimers = context.WithCancel(context.Background())
	go p.timers.Run(timersCtx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("private appliance: %w", err)
	}
	p.srv = server.New(p.store, a, pn, log, app.ServerLimits(cfg), server.WithMetrics(metrics), server.WithVersion(buildInfo()))
	go func() { _ = p.srv.Serve(ln) }()
	p.URL = "http://" + ln.Addr().String()
	return p, nil
}

// seedAgents adds n idle agents, as an operator would over
// /edge/v1/agents and the routingStatus call.
func seedAgents(store *db.Store, n int) error {
	ctx := context.Background()
	for id := int64(1); id <= int64(n); id++ {
		if _, err := store.PutAgent(ctx, model.Agent{ID: id, Name: "Bench Agent " + strconv.FormatInt(id, 10)}); err != nil {
			return fmt.Errorf("seed agent %d: %w", id, err)
		}
		if _, err := store.SetRoutingStatus(ctx, id, model.RoutingStatusChange{CallRoutingStatus: model.PresenceIdle}); err != nil {
			return fmt.Errorf("seed agent %d: %w", id, err)
		}
	}
	return nil
}

// Close stops the appliance in reverse order of start and removes its
// directory.
func (p *privateAppliance) Close() {
	if p.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = p.srv.Shutdown(ctx)
		cancel()
	}
	if p.timers != nil {
		p.stopTimers()
		p.timers.Close()
	}
	if p.store != nil {
		p.stopStore()
		_ = p.store.Close()
	}
	_ = os.RemoveAll(p.Dir)
}
