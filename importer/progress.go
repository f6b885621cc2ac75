package importer

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"
)

// progressInterval is how often the bar is redrawn at most.
const progressInterval = 100 * time.Millisecond

// barWidth is the number of cells in the bar.
const barWidth = 20

// countingReader counts the bytes read through it, which is how far into the
// file the import is.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// progress draws a one-line progress bar on a terminal. A nil *progress
// draws nothing, so callers need no checks.
type progress struct {
	w       io.Writer
	total   int64
	read    *countingReader
	start   time.Time
	last    time.Time
	calls   int
	nowFunc func() time.Time
}

// newProgress returns a progress bar on w, or nil if w is not a terminal:
// carriage-return redraws would only litter a log file or a pipe.
func newProgress(w io.Writer, total int64, read *countingReader) *progress {
	f, ok := w.(*os.File)
	if !ok || f == nil || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return newProgressTo(w, total, read, time.Now)
}

// newProgressTo draws on any w; tests use it with a fake clock.
func newProgressTo(w io.Writer, total int64, read *countingReader, now func() time.Time) *progress {
	t := now()
	return &progress{w: w, total: total, read: read, start: t, last: t, nowFunc: now}
}

// update redraws the bar if progressInterval has passed. It is called per
// customer, so it looks at the clock only every 256 calls.
func (p *progress) update(customers int) {
	if p == nil {
		return
	}
	if p.calls++; p.calls%256 != 0 {
		return
	}
	now := p.nowFunc()
	if now.Sub(p.last) < progressInterval {
		return
	}
	p.last = now
	p.draw(customers, now, false)
}

// finish draws the final state (a full bar if ok) and ends the line.
func (p *progress) finish(customers int, ok bool) {
	if p == nil {
		return
	}
	p.draw(customers, p.nowFunc(), ok)
	fmt.Fprintln(p.w)
}

func (p *progress) draw(customers int, now time.Time, done bool) {
	read := p.read.n
	if done && p.total > 0 {
		read = p.total
	}
	line := renderProgress(read, p.total, customers, now.Sub(p.start))
	// Errors writing to the terminal are not worth failing an import for.
	_, _ = io.WriteString(p.w, "\r"+line)
}

// renderProgress formats one state of the bar, e.g.
// "[#########...........]  45%  450,000 customers  120,000/s". Without a
// total (stdin) there is no bar and no percentage.
func renderProgress(read, total int64, customers int, elapsed time.Duration) string {
	var b strings.Builder
	if total > 0 {
		pct := float64(read) / float64(total)
		pct = min(max(pct, 0), 1)
		filled := int(pct * barWidth)
		b.WriteByte('[')
		b.WriteString(strings.Repeat("#", filled))
		b.WriteString(strings.Repeat(".", barWidth-filled))
		fmt.Fprintf(&b, "] %3d%%  ", int(pct*100))
	}
	b.WriteString(thousands(int64(customers)))
	b.WriteString(" customers")
	if secs := elapsed.Seconds(); secs > 0 {
		b.WriteString("  ")
		b.WriteString(thousands(int64(float64(customers) / secs)))
		b.WriteString("/s")
	}
	b.WriteString("   ") // blank out the tail of a longer previous line
	return b.String()
}

// thousands formats n with ',' between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
