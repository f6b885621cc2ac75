package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
)

// plot geometry, in SVG user units.
const (
	plotW, plotH               = 960, 560
	padL, padR, padT, padB     = 90, 40, 70, 80
	innerW, innerH             = plotW - padL - padR, plotH - padT - padB
	minDecades, maxPlotDecades = 3, 6
)

var plotColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"}

// logX is the percentile's position on the plot's log axis: each unit is a
// tail ten times rarer (0 = 0 %, 1 = 90 %, 2 = 99 %, 3 = 99.9 % …).
func logX(p float64) float64 {
	if p >= 100 {
		return maxPlotDecades
	}
	return -math.Log10(1 - p/100)
}

// WriteSVG draws the latency percentile curve of every result on one plot:
// percentile on a log axis (so the tail is as wide as the median), latency
// in ms on a linear axis.
func WriteSVG(w io.Writer, title string, results []*Result) error {
	decades := float64(minDecades)
	top := 0.0
	for _, r := range results {
		for _, pt := range r.Curve {
			decades = math.Max(decades, math.Ceil(logX(pt.Percentile)-1e-9))
			top = math.Max(top, pt.Ms)
		}
	}
	decades = math.Min(decades, maxPlotDecades)
	step, yMax := niceScale(top)
	xOf := func(p float64) float64 { return padL + math.Min(logX(p), decades)/decades*innerW }
	yOf := func(v float64) float64 { return padT + innerH - v/yMax*innerH }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">`+"\n", plotW, plotH, plotW, plotH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", plotW, plotH)
	fmt.Fprintf(&b, `<text x="%d" y="28" font-size="17" font-weight="bold">%s</text>`+"\n", padL, esc(title))
	// Grid and y ticks.
	for v := 0.0; v <= yMax+step/2; v += step {
		y := yOf(v)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>`+"\n", padL, y, padL+innerW, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", padL-8, y, trimFloat(v))
	}
	// x ticks: 0 %, 50 %, 90 %, 99 %, … one per decade.
	ticks := []float64{0, 50}
	for d := 1.0; d <= decades; d++ {
		ticks = append(ticks, 100*(1-math.Pow(10, -d)))
	}
	for _, p := range ticks {
		x := xOf(p)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e5e5e5"/>`+"\n", x, padT, x, padT+innerH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s%%</text>`+"\n", x, padT+innerH+20, trimFloat(p))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", padL, padT, innerW, innerH)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">percentile (log scale: each step to the right is a tail ten times rarer)</text>`+"\n", padL+innerW/2, plotH-25)
	fmt.Fprintf(&b, `<text transform="translate(24 %d) rotate(-90)" text-anchor="middle">latency (ms, from when the call was due)</text>`+"\n", padT+innerH/2)
	// Curves and legend.
	for i, r := range results {
		color := plotColors[i%len(plotColors)]
		var pts []string
		for _, pt := range r.Curve {
			if logX(pt.Percentile) > decades+1e-9 {
				break
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(pt.Percentile), yOf(pt.Ms)))
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2.5" points="%s"/>`+"\n", color, strings.Join(pts, " "))
		}
		ly := padT + 22 + i*22
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", padL+16, ly, padL+46, ly, color)
		label := fmt.Sprintf("%s: p50 %s, p99 %s, p99.9 %s, %.0f calls/s", r.Name, fmtMs(r.Latency.P50), fmtMs(r.Latency.P99), fmtMs(r.Latency.P999), r.Throughput)
		fmt.Fprintf(&b, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", padL+54, ly, esc(label))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// niceScale picks a tick step of 1, 2 or 5 × 10^k giving about five ticks,
// and the axis top as a whole number of steps.
func niceScale(top float64) (step, yMax float64) {
	if top <= 0 {
		return 0.2, 1
	}
	raw := top / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	return step, math.Ceil(top/step-1e-9) * step
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.6f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// WriteJSON writes the results as one JSON document.
func WriteJSON(w io.Writer, results []*Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Results []*Result `json:"results"`
	}{results})
}
