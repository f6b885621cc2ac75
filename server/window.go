package server

import (
	"sync"
	"time"
)

// windowSlots is how many seconds the status page's "now" covers.
const windowSlots = 10

// window keeps per-second call counts and latencies for the last few
// seconds, so the status page shows "now" rather than an all-time mean.
type window struct {
	mu    sync.Mutex
	now   func() time.Time
	slots [windowSlots]slot
}

type slot struct {
	sec   int64
	n     int64
	total time.Duration
	max   time.Duration
}

// Recent is the calls of the last seconds.
type Recent struct {
	PerSecond     float64 `json:"perSecond"`
	MeanLatencyMs float64 `json:"meanLatencyMs"`
	MaxLatencyMs  float64 `json:"maxLatencyMs"`
	Seconds       int     `json:"seconds"`
}

func (w *window) add(d time.Duration) {
	sec := w.now().Unix()
	w.mu.Lock()
	s := &w.slots[sec%windowSlots]
	if s.sec != sec {
		*s = slot{sec: sec}
	}
	s.n++
	s.total += d
	s.max = max(s.max, d)
	w.mu.Unlock()
}

// recent sums the complete seconds before the current one, so a rate read
// early in a second is not halved.
func (w *window) recent() Recent {
	now := w.now().Unix()
	var n int64
	var total, mx time.Duration
	w.mu.Lock()
	for _, s := range w.slots {
		if s.sec < now && s.sec >= now-(windowSlots-1) {
			n += s.n
			total += s.total
			mx = max(mx, s.max)
		}
	}
	w.mu.Unlock()
	r := Recent{Seconds: windowSlots - 1, PerSecond: float64(n) / (windowSlots - 1), MaxLatencyMs: ms(mx)}
	if n > 0 {
		r.MeanLatencyMs = ms(total / time.Duration(n))
	}
	return r
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// History of calls for the status page's chart: historySlots buckets of
// historyStep each (the last ten minutes in five-second steps).
const (
	historyStep  = 5 * time.Second
	historySlots = 120
)

// history is window's longer, coarser sibling.
type history struct {
	mu    sync.Mutex
	now   func() time.Time
	slots [historySlots]slot
}

// Point is one step of the chart: the calls answered 200 in it and their
// latency.
type Point struct {
	// At is the step's start, Unix seconds.
	At     int64   `json:"at"`
	Calls  int64   `json:"calls"`
	MeanMs float64 `json:"meanMs"`
	MaxMs  float64 `json:"maxMs"`
}

func (h *history) add(d time.Duration) {
	step := h.now().Unix() / int64(historyStep/time.Second)
	h.mu.Lock()
	s := &h.slots[step%historySlots]
	if s.sec != step {
		*s = slot{sec: step}
	}
	s.n++
	s.total += d
	s.max = max(s.max, d)
	h.mu.Unlock()
}

// points returns every step of the last historySlots, oldest first, the
// current (incomplete) one last; steps without calls are zero.
func (h *history) points() []Point {
	per := int64(historyStep / time.Second)
	now := h.now().Unix() / per
	out := make([]Point, 0, historySlots)
	h.mu.Lock()
	defer h.mu.Unlock()
	for step := now - historySlots + 1; step <= now; step++ {
		p := Point{At: step * per}
		if s := h.slots[(step%historySlots+historySlots)%historySlots]; s.sec == step && s.n > 0 {
			p.Calls, p.MeanMs, p.MaxMs = s.n, ms(s.total/time.Duration(s.n)), ms(s.max)
		}
		out = append(out, p)
	}
	return out
}
