package app

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestTuneGC: serve raises GOGC and sets a soft memory limit, unless the
// operator's GOGC or GOMEMLIMIT is set, which it leaves alone.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }

	TuneGC(getenv)
	if got := debug.SetGCPercent(100); got != serveGCPercent {
		t.Errorf("GOGC unset: GC percent %d, want %d", got, serveGCPercent)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != serveMemoryGoal {
		t.Errorf("GOMEMLIMIT unset: limit %d, want %d", got, serveMemoryGoal)
	}

	env["GOGC"], env["GOMEMLIMIT"] = "50", "1GiB"
	TuneGC(getenv)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC=50 set by the operator: TuneGC changed the percent to %d", got)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != math.MaxInt64 {
		t.Errorf("GOMEMLIMIT set by the operator: TuneGC changed the limit to %d", got)
	}
}
