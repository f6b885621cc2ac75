package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
)

// kindNotSent counts requests the schedule planned but that could not be
// sent before the run's end: every connection was still waiting on the
// target.
const kindNotSent = "not sent: target fell behind schedule"

// ReportPercentiles are the percentiles every report shows.
var ReportPercentiles = []float64{50, 90, 99, 99.9}

// Result is what one target did under one schedule.
type Result struct {
	Name        string        `json:"name"`
	URL         string        `json:"url"`
	Rate        float64       `json:"rate"` // requested calls/s; 0 = closed model
	Duration    time.Duration `json:"-"`
	Concurrency int           `json:"concurrency"`
	Interrupted bool          `json:"interrupted,omitempty"`
	Planned     int64         `json:"planned"`
	Sent        int64         `json:"sent"`
	OK          int64         `json:"ok"`
	Elapsed     time.Duration `json:"-"`
	// Throughput is successful calls per second of the run.
	Throughput   float64           `json:"throughputPerSecond"`
	Errors       map[string]int64  `json:"errors"`
	ErrorSamples map[string]string `json:"errorSamples,omitempty"`
	Mix          map[string]int64  `json:"mix"`
	// Latency of successful calls, measured from when each was due.
	Latency Latency `json:"latencyMs"`
	// SendLag is how late the generator itself sent (p99, ms): when it is
	// large the generator, not the target, was the bottleneck.
	SendLagP99 float64 `json:"sendLagP99Ms"`
	// Curve is the percentile curve the plot draws.
	Curve []CurvePoint `json:"curve"`

	DurationSeconds float64 `json:"durationSeconds"`
	ElapsedSeconds  float64 `json:"elapsedSeconds"`

	hist *hdr.Histogram
	lag  *hdr.Histogram
}

// Latency holds the report's percentiles in milliseconds.
type Latency struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

// CurvePoint is one point of a latency percentile curve.
type CurvePoint struct {
	Percentile float64 `json:"percentile"`
	Ms         float64 `json:"ms"`
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// Percentile returns the latency at percentile p (0..100) in ms.
func (r *Result) Percentile(p float64) float64 { return ms(r.hist.ValueAtQuantile(p)) }

func (r *Result) summarise() {
	h := r.hist
	if h.TotalCount() > 0 {
		r.Latency = Latency{Min: ms(h.Min()), Mean: h.Mean() / 1e6, P50: r.Percentile(50), P90: r.Percentile(90),
			P99: r.Percentile(99), P999: r.Percentile(99.9), Max: ms(h.Max())}
		r.SendLagP99 = ms(r.lag.ValueAtQuantile(99))
		r.Curve = curve(h)
	}
	if r.Elapsed > 0 {
		r.Throughput = float64(r.OK) / r.Elapsed.Seconds()
	}
	r.DurationSeconds = r.Duration.Seconds()
	r.ElapsedSeconds = r.Elapsed.Seconds()
}

// curve samples the histogram at percentiles evenly spaced on the plot's
// log axis (-log10(1-p)), up to the last recorded value.
func curve(h *hdr.Histogram) []CurvePoint {
	var pts []CurvePoint
	n := float64(h.TotalCount())
	for x := 0.0; ; x += 0.05 {
		p := 100 * (1 - pow10(-x))
		// Beyond 1/n the histogram has no more information.
		if (100-p)/100*n < 1 {
			if last := 100 * (1 - 1/n); len(pts) == 0 || last > pts[len(pts)-1].Percentile {
				pts = append(pts, CurvePoint{Percentile: last, Ms: ms(h.Max())})
			} else {
				pts[len(pts)-1].Ms = ms(h.Max())
			}
			break
		}
		pts = append(pts, CurvePoint{Percentile: p, Ms: ms(h.ValueAtQuantile(p))})
		if x > 6 {
			break
		}
	}
	return pts
}

// classify names what went wrong with a request, or "" when it succeeded.
func classify(resp *fasthttp.Response, err error) string {
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, os.ErrDeadlineExceeded),
			errors.As(err, &ne) && ne.Timeout():
			return "timeout"
		case errors.Is(err, syscall.ECONNREFUSED):
			return "connection refused"
		case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF),
			errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, fasthttp.ErrConnectionClosed):
			return "connection closed"
		case errors.Is(err, fasthttp.ErrNoFreeConns):
			return "no free connection"
		default:
			return "transport error"
		}
	}
	if code := resp.StatusCode(); code < 200 || code > 299 {
		return "http " + strconv.Itoa(code)
	}
	// Any enneo server answers a created or repeated call with
	// success:true and a ticketId, compact or pretty-printed.
	b := resp.Body()
	if !jsonTrue(b, "success") || !bytes.Contains(b, []byte(`"ticketId"`)) {
		return "bad answer (2xx without success:true and ticketId)"
	}
	return ""
}

// jsonTrue reports whether body has "key": true (any whitespace around
// the colon), without decoding it: this runs once per call in the
// generator, which must stay cheaper than the servers it measures.
func jsonTrue(body []byte, key string) bool {
	k := `"` + key + `"`
	for {
		i := bytes.Index(body, []byte(k))
		if i < 0 {
			return false
		}
		rest := bytes.TrimLeft(body[i+len(k):], " \t\r\n")
		if len(rest) > 0 && rest[0] == ':' {
			if bytes.HasPrefix(bytes.TrimLeft(rest[1:], " \t\r\n"), []byte("true")) {
				return true
			}
		}
		body = body[i+len(k):]
	}
}

func sampleOf(resp *fasthttp.Response, err error) string {
	s := ""
	if err != nil {
		s = err.Error()
	} else {
		s = string(resp.Body())
		if s == "" {
			s = "(empty body)"
		}
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// WriteText prints the results side by side, one column per target.
func WriteText(w io.Writer, results []*Result) error {
	if len(results) == 0 {
		return nil
	}
	rows := [][]string{{""}}
	add := func(label string, f func(r *Result) string) {
		row := []string{label}
		for _, r := range results {
			row = append(row, f(r))
		}
		rows = append(rows, row)
	}
	for _, r := range results {
		rows[0] = append(rows[0], r.Name)
	}
	add("url", func(r *Result) string { return r.URL })
	add("schedule", func(r *Result) string {
		if r.Rate == 0 {
			return fmt.Sprintf("closed model, %d connections", r.Concurrency)
		}
		return fmt.Sprintf("%g/s for %v, ≤%d in flight", r.Rate, r.Duration, r.Concurrency)
	})
	add("requests", func(r *Result) string {
		s := fmt.Sprintf("%d sent of %d", r.Sent, r.Planned)
		if r.Interrupted {
			s += " (interrupted)"
		}
		return s
	})
	add("ok", func(r *Result) string { return strconv.FormatInt(r.OK, 10) })
	add("throughput", func(r *Result) string { return fmt.Sprintf("%.0f calls/s", r.Throughput) })
	lat := func(label string, f func(l Latency) float64) {
		add(label, func(r *Result) string {
			if r.OK == 0 {
				return "-"
			}
			return fmtMs(f(r.Latency))
		})
	}
	lat("latency p50", func(l Latency) float64 { return l.P50 })
	lat("latency p90", func(l Latency) float64 { return l.P90 })
	lat("latency p99", func(l Latency) float64 { return l.P99 })
	lat("latency p99.9", func(l Latency) float64 { return l.P999 })
	lat("latency max", func(l Latency) float64 { return l.Max })
	lat("latency mean", func(l Latency) float64 { return l.Mean })
	add("generator send lag p99", func(r *Result) string {
		if r.OK == 0 {
			return "-"
		}
		return fmtMs(r.SendLagP99)
	})
	kinds := map[string]bool{}
	for _, r := range results {
		for k := range r.Errors {
			kinds[k] = true
		}
	}
	add("errors", func(r *Result) string { return strconv.FormatInt(r.Sent+r.Errors[kindNotSent]-r.OK, 10) })
	for _, k := range sortedKeys(kinds) {
		add("  "+k, func(r *Result) string { return strconv.FormatInt(r.Errors[k], 10) })
	}
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		for i, c := range row {
			b.WriteString(c)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-len([]rune(c))+3))
			}
		}
		b.WriteByte('\n')
	}
	for _, r := range results {
		for _, k := range sortedKeys(r.ErrorSamples) {
			fmt.Fprintf(&b, "%s, first %s: %s\n", r.Name, k, r.ErrorSamples[k])
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func fmtMs(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.3f ms", v)
	case v < 100:
		return fmt.Sprintf("%.2f ms", v)
	default:
		return fmt.Sprintf("%.0f ms", v)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func pow10(x float64) float64 { return math.Pow(10, x) }
