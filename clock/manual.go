package clock

import (
	"sync"
	"time"
)

// Manual is a Clock that moves only when told to: Advance. An After
// channel fires once the clock reaches its deadline. Safe for concurrent
// use.
type Manual struct {
	mu     sync.Mutex
	now    time.Time
	timers []manualTimer
}

type manualTimer struct {
	at time.Time
	ch chan time.Time
}

// NewManual starts a manual clock at t.
func NewManual(t time.Time) *Manual { return &Manual{now: t} }

// Now is the clock's time.
func (c *Manual) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// After fires when Advance moves the clock d past now; d <= 0 fires at
// once.
func (c *Manual) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, manualTimer{c.now.Add(d), ch})
	return ch
}

// Waiting reports whether some After is set to fire at or after at: a
// test's way to know a loop is asleep before it advances the clock.
func (c *Manual) Waiting(at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tm := range c.timers {
		if !tm.at.Before(at) {
			return true
		}
	}
	return false
}

// Advance moves the clock by d and fires every After it reached.
func (c *Manual) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if tm.at.After(c.now) {
			kept = append(kept, tm)
			continue
		}
		tm.ch <- c.now
	}
	c.timers = kept
}
