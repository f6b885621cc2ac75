package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/enneo-edge/enneo-edge/config"
	"github.com/enneo-edge/enneo-edge/db"
)

// checkChildEnv marks the child process that does the actual check.
const checkChildEnv = "ENNEO_EDGE_CHECK_CHILD"

// runCheck verifies the database file's structure. It needs the file
// lock, so it runs while the server is stopped. The only write it makes is
// replaying the write-ahead log, as serve would: after a power loss the
// file alone is not the last acknowledged state.
func runCheck(args []string) error {
	fs := newFlags("check")
	cfgPath := fs.String("config", config.DefaultPath, "TOML config file")
	quick := fs.Bool("quick", false, "only open the file and read the first and last page of every bucket (what serve does at every start)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 0, 1, "at most one DBFILE"); err != nil {
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
		return err // "stat PATH: no such file or directory"
	}
	if os.Getenv(checkChildEnv) == "1" {
		return checkHere(path, cfg.Site.ID, *quick)
	}
	if n, err := db.RecoverWAL(path); err != nil {
		return err
	} else if n > 0 {
		fmt.Printf("%s: replayed %d commits from the write-ahead log\n", path, n)
	}
	summary, err := checkFile(path, *quick)
	if err != nil {
		return err
	}
	fmt.Print(summary)
	return nil
}

// checkHere opens the file read-only and runs bbolt's consistency check,
// or with quick only the reads that find damage to the meta pages, the
// bucket roots and the ends of every bucket: a full check walks every page
// (seconds on a million tickets), too slow for every start.
func checkHere(path string, site int, quick bool) error {
	store, err := db.Open(path, db.Options{SiteID: site, ReadOnly: true})
	if err != nil {
		return err
	}
	defer store.Close()
	if quick {
		if err := store.QuickCheck(); err != nil {
			return fmt.Errorf("%s is damaged: %w", path, err)
		}
		fmt.Printf("%s: ok (quick check)\n", path)
		return nil
	}
	if err := store.Check(); err != nil {
		return fmt.Errorf("%s is damaged: %w", path, err)
	}
	tickets, _ := store.TicketCount()
	customers, _ := store.CustomerCount()
	fmt.Printf("%s: ok (%d tickets, %d customers)\n", path, tickets, customers)
	if err := store.CheckCounts(); err != nil {
		fmt.Printf("%s: warning: the kept counts (shown by /metrics and the status page; nothing else uses them) are off, because an earlier version wrote to this file or by a bug: %v\n", path, err)
	}
	return nil
}

// errDamaged marks a file that failed the check (as opposed to one that
// could not be checked, such as a locked file).
var errDamaged = errors.New("damaged")

// checkFile checks path in a child process of this binary. bbolt panics on
// some damage in a goroutine of its own, which no recover catches; the
// child's crash becomes a message here instead of ending the caller.
func checkFile(path string, quick bool) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("check %s: find own binary: %w", path, err)
	}
	cmd := exec.Command(exe, "check", "-config=", "-quick="+strconv.FormatBool(quick), path)
	cmd.Env = append(os.Environ(), checkChildEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if err == nil {
		return stdout.String(), nil
	}
	reason := firstLine(stderr.String(), "panic: ", "enneo-edge check: ")
	if strings.Contains(reason, "locked by another process") || db.IsSchemaRefusal(reason) {
		return "", errors.New(reason)
	}
	if reason == "" {
		reason = err.Error()
	}
	reason = strings.TrimPrefix(reason, path+" is damaged: ")
	return "", fmt.Errorf("%s is %w: %s", path, errDamaged, reason)
}

// firstLine returns the first line of out that starts with one of the
// prefixes, without the prefix.
func firstLine(out string, prefixes ...string) string {
	for _, line := range strings.Split(out, "\n") {
		for _, p := range prefixes {
			if rest, ok := strings.CutPrefix(line, p); ok {
				return rest
			}
		}
	}
	return ""
}

// precheck refuses a damaged database before serve opens it for writing,
// so the file stays exactly as it was for the operator.
func precheck(path string) error {
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		return nil // a new database
	}
	if _, err := checkFile(path, true); err != nil {
		if errors.Is(err, errDamaged) {
			return fmt.Errorf("%w; the file was left untouched. Run `enneo-edge check %s` for details, and restore from a backup (README: Backup and restore)",
				err, path)
		}
		return err
	}
	return nil
}
