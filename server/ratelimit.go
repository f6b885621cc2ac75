package server

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// maxLimiterKeys bounds the client addresses a limiter remembers, so a
// scan from many addresses cannot grow it without end.
const maxLimiterKeys = 4096

// keyedLimiter is a token bucket per client address: rate tokens a second
// up to burst. It also paces the log lines about an address, so a flood
// leaves one line per logEvery rather than one per request.
type keyedLimiter struct {
	rate, burst float64
	logEvery    time.Duration
	now         func() time.Time

	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens     float64
	last       time.Time
	reportedAt time.Time
	unreported int // refusals since the last log line
}

func newKeyedLimiter(rate, burst float64, logEvery time.Duration) *keyedLimiter {
	return &keyedLimiter{rate: rate, burst: burst, logEvery: logEvery, now: time.Now, buckets: make(map[netip.Addr]*bucket)}
}

// get returns addr's bucket, refilled up to now. Callers hold mu.
func (l *keyedLimiter) get(addr netip.Addr, now time.Time) *bucket {
	b, ok := l.buckets[addr]
	if !ok {
		if len(l.buckets) >= maxLimiterKeys {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[addr] = b
		return b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	return b
}

// sweep forgets addresses whose bucket is full again and nothing is left
// to report; if that frees nothing, it forgets all (memory over memory of
// abuse).
func (l *keyedLimiter) sweep(now time.Time) {
	for a, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst && b.unreported == 0 {
			delete(l.buckets, a)
		}
	}
	if len(l.buckets) >= maxLimiterKeys {
		clear(l.buckets)
	}
}

// empty reports whether addr has no token left, without taking one.
func (l *keyedLimiter) empty(addr netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[addr]
	if !ok {
		return false
	}
	now := l.now()
	return b.tokens+now.Sub(b.last).Seconds()*l.rate < 1
}

// take takes a token for addr and reports whether there was one.
func (l *keyedLimiter) take(addr netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.get(addr, l.now())
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// refused counts a refusal of addr and reports whether to log it now, and
// how many refusals the line stands for.
func (l *keyedLimiter) refused(addr netip.Addr) (report bool, count int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.get(addr, now)
	b.unreported++
	if now.Sub(b.reportedAt) < l.logEvery {
		return false, 0
	}
	count, b.unreported, b.reportedAt = b.unreported, 0, now
	return true, count
}

// clientAddr is the request's peer address, without the port.
func clientAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
