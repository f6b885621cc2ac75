package main

import (
	"context"
	"log/slog"
	"os"

	"golang.org/x/term"

	"github.com/enneo-edge/enneo-edge/app"
	"github.com/enneo-edge/enneo-edge/config"
)

// runServe runs the appliance until SIGTERM; package app owns the start
// order and the stop in reverse.
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
	app.TuneGC(os.Getenv)
	level := cfg.Log.SlogLevel()
	if *debug {
		level = slog.LevelDebug
	}
	ver, rev := buildInfo()
	a, err := app.New(cfg, app.Options{Log: newLogger(level), Stdout: os.Stdout, Precheck: precheck, Version: ver, Revision: rev})
	if err != nil {
		return err
	}
	err = a.Run(context.Background())
	// Close logs what fails to close (the database file); the exit status
	// is the run's, as it always was.
	_ = a.Close()
	return err
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
