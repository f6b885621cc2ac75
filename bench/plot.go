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
	plotW, plotH               = 960, 600
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
// percentile on a log axis (so the tail is as wide as the median) and
// latency on a log axis too, so an edge answering in 1 ms and a central
// server answering in 80 ms are both readable on one plot.
func WriteSVG(w io.Writer, title string, results []*Result) error {
	decades := float64(minDecades)
	lo, hi := math.Inf(1), 0.0
	for _, r := range results {
		for _, pt := range r.Curve {
			decades = math.Max(decades, math.Ceil(logX(pt.Percentile)-1e-9))
			if pt.Ms > 0 {
				lo, hi = math.Min(lo, pt.Ms), math.Max(hi, pt.Ms)
			}
		}
	}
	decades = math.Min(decades, maxPlotDecades)
	if hi == 0 {
		lo, hi = 0.1, 1
	}
	yLo, yHi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if yHi-yLo < 1 {
		yHi = yLo + 1
	}
	legendH := 22 * len(results)
	top := padT + legendH
	plotInnerH := innerH - legendH
	xOf := func(p float64) float64 { return padL + math.Min(logX(p), decades)/decades*innerW }
	yOf := func(v float64) float64 {
		v = math.Max(v, math.Pow(10, yLo))
		return float64(top+plotInnerH) - (math.Log10(v)-yLo)/(yHi-yLo)*float64(plotInnerH)
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">`+"\n", plotW, plotH, plotW, plotH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", plotW, plotH)
	fmt.Fprintf(&b, `<text x="%d" y="28" font-size="17" font-weight="bold">%s</text>`+"\n", padL, esc(title))
	// Legend above the plot, where no curve can cross it.
	for i, r := range results {
		color := plotColors[i%len(plotColors)]
		ly := padT - 16 + i*22
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", padL, ly, padL+30, ly, color)
		label := fmt.Sprintf("%s: p50 %s, p99 %s, p99.9 %s, max %s, %.0f calls/s", r.Name, fmtMs(r.Latency.P50), fmtMs(r.Latency.P99), fmtMs(r.Latency.P999), fmtMs(r.Latency.Max), r.Throughput)
		fmt.Fprintf(&b, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", padL+38, ly, esc(label))
	}
	// y grid: 1, 2, 5 × 10^k, labelled.
	for e := yLo; e <= yHi; e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if e == yHi && m > 1 {
				break
			}
			y := yOf(v)
			stroke := "#e5e5e5"
			if m == 1 {
				stroke = "#c8c8c8"
			}
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", padL, y, padL+innerW, y, stroke)
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", padL-8, y, trimFloat(v))
		}
	}
	// x grid: 0 %, 50 %, 90 %, 99 %, … one per decade.
	ticks := []float64{0, 50}
	for d := 1.0; d <= decades; d++ {
		ticks = append(ticks, 100*(1-math.Pow(10, -d)))
	}
	for _, p := range ticks {
		x := xOf(p)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e5e5e5"/>`+"\n", x, top, x, top+plotInnerH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s%%</text>`+"\n", x, top+plotInnerH+20, trimFloat(p))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", padL, top, innerW, plotInnerH)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">percentile (log scale: each step to the right is a tail ten times rarer)</text>`+"\n", padL+innerW/2, plotH-25)
	fmt.Fprintf(&b, `<text transform="translate(24 %d) rotate(-90)" text-anchor="middle">latency (ms, log scale)</text>`+"\n", top+plotInnerH/2)
	for i, r := range results {
		var pts []string
		for _, pt := range r.Curve {
			if logX(pt.Percentile) > decades+1e-9 {
				break
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(pt.Percentile), yOf(pt.Ms)))
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2.5" points="%s"/>`+"\n", plotColors[i%len(plotColors)], strings.Join(pts, " "))
		}
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
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
