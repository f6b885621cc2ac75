// Package clock is the appliance's one time seam. Every room that reads
// the time or waits takes a Clock where it takes its dependencies (nil
// means the wall clock, Real); tests pass a Manual they move by hand.
// It imports nothing but the standard library, so every room may use it.
package clock

import "time"

// Clock tells the time and waits.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type real struct{}

func (real) Now() time.Time                         { return time.Now() }
func (real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Real is the wall clock.
var Real Clock = real{}

// Or returns c, or Real when c is nil: what a constructor does with the
// clock it was given.
func Or(c Clock) Clock {
	if c == nil {
		return Real
	}
	return c
}
