package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/enneo-edge/enneo-edge/config"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/importer"
	"github.com/enneo-edge/enneo-edge/model"
	"github.com/enneo-edge/enneo-edge/phone"
)

// runImport loads a customer file straight into the database file. It takes
// the file lock, so it runs while the server is stopped; a running server
// takes customers through PUT /edge/v1/customers instead (JSON Lines, or
// CSV with Content-Type: text/csv).
//
// The file is read twice: first only checked, so that a file with bad
// lines changes nothing unless -partial says the good lines are wanted.
func runImport(args []string) error { return importCommand(args, os.Stdout, os.Stderr) }

func importCommand(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("import")
	cfgPath := fs.String("config", config.DefaultPath, "TOML config file")
	format := fs.String("format", "auto", "file format: auto, csv or jsonl")
	partial := fs.Bool("partial", false, "import the good lines of a file that has bad ones (exit status 0); without it such a file imports nothing")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 1, 1, "one FILE"); err != nil {
		return err
	}
	switch *format {
	case "auto", "csv", "jsonl", "ndjson":
	default:
		return fmt.Errorf("-format: must be auto, csv or jsonl, got %q", *format)
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	pn, err := phone.NewNormalizer(cfg.Site.PhoneRegion)
	if err != nil {
		return fmt.Errorf("site.phone_region: %w", err)
	}
	path := fs.Arg(0)
	f, err := os.Open(path)
	if err != nil {
		return err // names the file and the operation already
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	fmtKind, err := importFormat(*format, path, f)
	if err != nil {
		return err
	}
	checked, err := importer.Import(f, fmtKind, discardSink{}, importer.Options{Normalizer: pn})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	reportSkipped(stderr, path, checked)
	if checked.SkippedCount > 0 && !*partial {
		return fmt.Errorf("%s: %d bad lines (listed above), so nothing was imported; fix them, or add -partial to import the other %d customers",
			path, checked.SkippedCount, checked.Imported)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("seek %s: %w", path, err)
	}
	// The server is stopped: large batches commit straight to the file.
	store, err := db.Open(cfg.Storage.Path, db.Options{SiteID: cfg.Site.ID, DisableWAL: true})
	if err != nil {
		return err
	}
	defer store.Close()

	start := time.Now()
	res, err := importer.Import(f, fmtKind, bulkSink{store}, importer.Options{
		Normalizer: pn, Progress: stderr, Total: st.Size(),
	})
	if err != nil {
		return fmt.Errorf("%s: %w (%d customers written before the error)", path, err, res.Imported)
	}
	fmt.Fprintf(stdout, "imported %d customers from %s in %s", res.Imported, path, time.Since(start).Round(time.Millisecond))
	if res.SkippedCount > 0 {
		fmt.Fprintf(stdout, "; %d bad lines left out (-partial)", res.SkippedCount)
	}
	fmt.Fprintln(stdout)
	return nil
}

// reportSkipped lists the bad lines as FILE:LINE: reason, the form editors
// jump to.
func reportSkipped(w io.Writer, path string, res importer.Result) {
	for _, le := range res.Skipped {
		fmt.Fprintf(w, "%s:%d: %v\n", path, le.Line, le.Err)
	}
	if more := res.SkippedCount - len(res.Skipped); more > 0 {
		fmt.Fprintf(w, "%s: and %d more bad lines\n", path, more)
	}
}

// discardSink takes the batches of the checking pass.
type discardSink struct{}

func (discardSink) UpsertCustomers([]model.Customer) error { return nil }

func importFormat(flagValue, path string, f *os.File) (importer.Format, error) {
	switch flagValue {
	case "csv":
		return importer.CSV, nil
	case "jsonl", "ndjson":
		return importer.JSONLines, nil
	case "auto":
		head := make([]byte, 512)
		n, err := f.Read(head)
		if err != nil && err != io.EOF {
			return 0, fmt.Errorf("read %s: %w", path, err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, fmt.Errorf("seek %s: %w", path, err)
		}
		return importer.DetectFormat(path, head[:n]), nil
	}
	return 0, fmt.Errorf("-format: must be auto, csv or jsonl, got %q", flagValue)
}

// bulkSink writes import batches directly: no calls are being served.
type bulkSink struct{ store *db.Store }

func (b bulkSink) UpsertCustomers(batch []model.Customer) error {
	return b.store.UpsertCustomersBulk(batch)
}
