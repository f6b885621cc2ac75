package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/enneo-edge/enneo-edge/auth"
	"github.com/enneo-edge/enneo-edge/config"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/phone"
	"github.com/enneo-edge/enneo-edge/server"
)

func runServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", config.DefaultPath, "TOML config file")
	debug := fs.Bool("debug", false, "log every call")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(*debug)

	store, err := db.Open(cfg.Storage.Path, db.Options{SiteID: cfg.Site.ID})
	if err != nil {
		return err
	}
	storeCtx, stopStore := context.WithCancel(context.Background())
	go store.Run(storeCtx)
	// Stop in reverse order of start: the server first (in-flight calls
	// finish their commits), then the commit loop, then the file.
	defer func() {
		stopStore()
		if err := store.Close(); err != nil {
			log.Error("close database", "err", err)
		}
	}()

	tokens, err := apiTokens(cfg, store)
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
	srv := server.New(store, a, pn, log, server.Limits{
		ReadTimeout:     cfg.Server.ReadTimeout.Duration,
		WriteTimeout:    cfg.Server.WriteTimeout.Duration,
		IdleTimeout:     cfg.Server.IdleTimeout.Duration,
		MaxBodyBytes:    cfg.Server.MaxBodyBytes,
		ReadBufferBytes: cfg.Server.ReadBufferBytes,
		MaxConnections:  cfg.Server.MaxConnections,
	})
	stopSync := startSync(cfg, store, srv, log)
	// Registered after the store's close, so it runs before it: the
	// forwarder and pruner stop before the commit loop does.
	defer stopSync()
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("server.listen: %w", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// Tests and scripts read this line to learn the port when listen is :0.
	fmt.Printf("enneo-edge listening on http://%s (database %s, site %d)\n", ln.Addr(), store.Path(), cfg.Site.ID)
	log.Info("serving", "addr", ln.Addr().String(), "db", store.Path(), "upstream", cfg.Upstream.URL != "")

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case sig := <-sigs:
		log.Info("shutting down", "signal", sig.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.Duration)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// apiTokens returns the configured tokens, or the one generated at first
// start. A generated token is stored before it is printed, and printed only
// the time it is made.
func apiTokens(cfg config.Config, store *db.Store) ([]string, error) {
	if len(cfg.Auth.Tokens) > 0 {
		return cfg.Auth.Tokens, nil
	}
	tok, err := store.APIToken()
	if err != nil {
		return nil, fmt.Errorf("read stored api token: %w", err)
	}
	if tok != "" {
		return []string{tok}, nil
	}
	if tok, err = auth.GenerateToken(); err != nil {
		return nil, err
	}
	if err := store.SetAPIToken(context.Background(), tok); err != nil {
		return nil, fmt.Errorf("store generated api token: %w", err)
	}
	fmt.Printf("enneo-edge generated an API token; it is shown only this once, keep it:\n\n    %s\n\n", tok)
	return []string{tok}, nil
}

func newAuthenticator(cfg config.Config, tokens []string) (*auth.Authenticator, error) {
	o := auth.Options{
		Tokens:   tokens,
		Issuer:   cfg.Auth.JWTIssuer,
		Audience: cfg.Auth.JWTAudience,
		Leeway:   cfg.Auth.JWTLeeway.Duration,
	}
	if cfg.Auth.JWTSecret != "" {
		o.JWTSecret = []byte(cfg.Auth.JWTSecret)
	}
	if cfg.Auth.JWTPublicKeyFile != "" {
		pem, err := os.ReadFile(cfg.Auth.JWTPublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("auth.jwt_public_key_file: %w", err)
		}
		o.JWTPublicKeyPEM = pem
	}
	a, err := auth.New(o)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return a, nil
}

// newLogger writes text for a person at a terminal and JSON for the
// journal.
func newLogger(debug bool) *slog.Logger {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	o := &slog.HandlerOptions{Level: level}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		return slog.New(slog.NewTextHandler(os.Stderr, o))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, o))
}
