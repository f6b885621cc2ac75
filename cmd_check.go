package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/enneo-edge/enneo-edge/config"
	"github.com/enneo-edge/enneo-edge/db"
)

// runCheck verifies the database file's structure. It needs the file lock,
// so it runs while the server is stopped.
func runCheck(args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	cfgPath := fs.String("config", config.DefaultPath, "TOML config file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	path := cfg.Storage.Path
	if fs.NArg() == 1 {
		path = fs.Arg(0)
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	store, err := db.Open(path, db.Options{SiteID: cfg.Site.ID})
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.Check(); err != nil {
		return fmt.Errorf("%s is damaged: %w", path, err)
	}
	tickets, _ := store.TicketCount()
	customers, _ := store.CustomerCount()
	fmt.Printf("%s: ok (%d tickets, %d customers)\n", path, tickets, customers)
	return nil
}
