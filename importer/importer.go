// Package importer loads a customer directory export (CSV or JSON Lines) into
// the edge's store. Bad lines are reported by line number and reason, each
// on its own: a broken line never takes the lines after it along (a CSV
// record is one physical line). Good customers are written in batches, one
// transaction each; whether a file with bad lines is imported at all is the
// caller's choice (Options.DryRun lets it check first).
package importer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/enneo-edge/enneo-edge/model"
	"github.com/enneo-edge/enneo-edge/phone"
)

// DefaultBatchSize is the batch size when Options.BatchSize is not set: big
// enough that bbolt's per-transaction fsync does not dominate, small enough
// to keep a batch's memory modest.
const DefaultBatchSize = 10000

// MaxSkippedStored bounds Result.Skipped, so a file of garbage cannot eat
// memory; Result.SkippedCount still counts every skipped line.
const MaxSkippedStored = 1000

// maxLineLength bounds one JSON line; longer lines are skipped as errors.
const maxLineLength = 1 << 20

// ErrNoNormalizer is returned by Import when Options.Normalizer is nil.
var ErrNoNormalizer = errors.New("importer: Options.Normalizer is required")

// Format is the layout of a customer file.
type Format int

const (
	// Auto asks Import to pick the format from the first bytes (DetectFormat).
	Auto Format = iota
	// CSV is comma-separated values with a header row.
	CSV
	// JSONLines is one enneo customer object per line.
	JSONLines
)

func (f Format) String() string {
	switch f {
	case Auto:
		return "auto"
	case CSV:
		return "CSV"
	case JSONLines:
		return "JSON Lines"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// DetectFormat picks the format of a file from its name (".csv"; ".jsonl",
// ".ndjson", ".json") or, failing that, from its first bytes: a '{' as the
// first non-space character (after an optional BOM) means JSON Lines,
// anything else CSV. name may be empty for stdin.
func DetectFormat(name string, firstBytes []byte) Format {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return CSV
	case ".jsonl", ".ndjson", ".json":
		return JSONLines
	}
	b := bytes.TrimLeft(bytes.TrimPrefix(firstBytes, utf8BOM), " \t\r\n")
	if len(b) > 0 && b[0] == '{' {
		return JSONLines
	}
	return CSV
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Sink stores customers. Import calls UpsertCustomers once per batch, and the
// sink should write each batch in one transaction, replacing customers with
// the same ID. The sink must not keep batch after returning: Import reuses it.
type Sink interface {
	UpsertCustomers(batch []model.Customer) error
}

// Options tunes Import.
type Options struct {
	// Normalizer reads the phone numbers; required.
	Normalizer *phone.Normalizer
	// BatchSize is the number of customers per sink call (DefaultBatchSize
	// if 0 or less).
	BatchSize int
	// Progress receives a progress bar if it is an *os.File on a terminal
	// (e.g. os.Stderr of an interactive run); otherwise nothing is written,
	// so logs of unattended imports stay clean. nil means no progress.
	Progress io.Writer
	// Total is the file size in bytes, for the percentage (0 = unknown).
	Total int64
}

// LineError is a line that Import skipped, with why.
type LineError struct {
	Line int // physical line in the file, 1-based (the CSV header is line 1)
	Err  error
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap exposes the cause, e.g. for errors.Is(err, model.ErrInvalid).
func (e LineError) Unwrap() error { return e.Err }

// Result summarises an import.
type Result struct {
	// Imported counts the customers the sink accepted.
	Imported int
	// Skipped lists the first MaxSkippedStored skipped lines.
	Skipped []LineError
	// SkippedCount counts all skipped lines.
	SkippedCount int
}

// Import reads customers from r in format and writes them to sink in
// batches. Lines that do not parse or validate are skipped and listed in the
// Result; the error is reserved for what stops the whole import: an
// unreadable input, a CSV header without an id column, or a sink failure
// (customers of earlier batches stay written).
func Import(r io.Reader, format Format, sink Sink, o Options) (Result, error) {
	if o.Normalizer == nil {
		return Result{}, ErrNoNormalizer
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	counter := &countingReader{r: r}
	br := bufio.NewReaderSize(counter, 64<<10)
	// A BOM is never part of the data; Excel likes to write one.
	if head, _ := br.Peek(len(utf8BOM)); bytes.Equal(head, utf8BOM) {
		_, _ = br.Discard(len(utf8BOM))
	}
	if format == Auto {
		head, _ := br.Peek(512)
		format = DetectFormat("", head)
	}
	im := &run{
		sink:     sink,
		batch:    make([]model.Customer, 0, o.BatchSize),
		progress: newProgress(o.Progress, o.Total, counter),
	}
	var err error
	switch format {
	case CSV:
		err = im.csv(br, o.Normalizer)
	case JSONLines:
		err = im.jsonLines(br, o.Normalizer)
	default:
		err = fmt.Errorf("importer: unknown format %v", format)
	}
	if err == nil {
		err = im.flush()
	}
	im.progress.finish(im.res.Imported+len(im.batch), err == nil)
	return im.res, err
}

// run is the state of one Import.
type run struct {
	sink     Sink
	batch    []model.Customer
	lastLine int // line of the last customer in batch
	res      Result
	progress *progress
}

func (im *run) add(c model.Customer, line int) error {
	if err := Identifiable(&c); err != nil {
		im.skip(line, err)
		return nil
	}
	im.batch = append(im.batch, c)
	im.lastLine = line
	if len(im.batch) == cap(im.batch) {
		if err := im.flush(); err != nil {
			return err
		}
	}
	im.progress.update(im.res.Imported + len(im.batch))
	return nil
}

func (im *run) skip(line int, err error) {
	if len(im.res.Skipped) < MaxSkippedStored {
		im.res.Skipped = append(im.res.Skipped, LineError{Line: line, Err: err})
	}
	im.res.SkippedCount++
	im.progress.update(im.res.Imported + len(im.batch))
}

func (im *run) flush() error {
	if len(im.batch) == 0 {
		return nil
	}
	if err := im.sink.UpsertCustomers(im.batch); err != nil {
		return fmt.Errorf("write batch ending at line %d: %w", im.lastLine, err)
	}
	im.res.Imported += len(im.batch)
	clear(im.batch) // drop references to the written customers
	im.batch = im.batch[:0]
	return nil
}

func (im *run) csv(r *bufio.Reader, n *phone.Normalizer) error {
	var (
		cols   *csvColumns
		fields []string
	)
	return eachLine(r, func(line int, b []byte) error {
		text := strings.TrimRight(string(b), "\r\n")
		if cols == nil {
			if strings.TrimSpace(text) == "" {
				return errors.New("importer: CSV file is empty (a header row with an id column is required)")
			}
			header, err := splitCSVLine(text, nil)
			if err != nil {
				return fmt.Errorf("importer: CSV header: %w", err)
			}
			if cols, err = newCSVColumns(header); err != nil {
				return fmt.Errorf("importer: %w", err)
			}
			return nil
		}
		if strings.TrimSpace(text) == "" {
			return nil // blank lines are no data
		}
		if len(b) > maxLineLength {
			im.skip(line, fmt.Errorf("line longer than %d bytes", maxLineLength))
			return nil
		}
		var err error
		fields, err = splitCSVLine(text, fields)
		if err != nil {
			im.skip(line, err)
			return nil
		}
		if len(fields) != len(cols.names) {
			im.skip(line, fmt.Errorf("%d columns, the header has %d", len(fields), len(cols.names)))
			return nil
		}
		c, err := cols.customer(fields, n)
		if err != nil {
			im.skip(line, err)
			return nil
		}
		return im.add(c, line)
	}, func() error {
		if cols == nil {
			return errors.New("importer: CSV file is empty (a header row with an id column is required)")
		}
		return nil
	})
}

// eachLine calls fn with every physical line of r (1-based number, bytes
// with the line ending; lines longer than maxLineLength are cut there),
// then end at the end of the input.
func eachLine(r *bufio.Reader, fn func(line int, b []byte) error, end func() error) error {
	var long []byte // a line longer than r's buffer, assembled
	for line := 1; ; line++ {
		b, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], b...)
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = r.ReadSlice('\n')
				if len(long) <= maxLineLength {
					long = append(long, b...)
				}
			}
			b = long
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("importer: read line %d: %w", line, err)
		}
		if len(b) > 0 {
			if ferr := fn(line, b); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return end()
		}
	}
}

func (im *run) jsonLines(r *bufio.Reader, n *phone.Normalizer) error {
	return eachLine(r, func(line int, b []byte) error {
		switch {
		case len(bytes.TrimSpace(b)) == 0:
			// Blank lines (and the end after a final newline) are no data.
		case len(b) > maxLineLength:
			im.skip(line, fmt.Errorf("line longer than %d bytes", maxLineLength))
		default:
			c, perr := ParseJSONLine(b, n)
			if perr != nil {
				im.skip(line, perr)
				return nil
			}
			return im.add(c, line)
		}
		return nil
	}, func() error { return nil })
}
