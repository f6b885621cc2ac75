package main

import (
	"math"
	"runtime/debug"
)

// The garbage collector's settings for serve, chosen by measurement
// (BENCHMARKS.md, "Where the time goes"): the live heap under load is
// 7-8 MB, and most allocation is bbolt materialising the leaves a call
// touches, so at Go's default GOGC=100 the collector ran every ~12 ms at
// 1,000 calls/s and cost about 110 µs of CPU per call on two shared
// cores. GOGC=400 collects a quarter as often (peak heap 43 MB, under the
// 64 MB budget); the soft memory limit (96 MiB of Go memory: heap,
// stacks, runtime) makes the collector work harder instead of letting
// memory pass it if the live set ever grows.
const (
	serveGCPercent  = 400
	serveMemoryGoal = 96 << 20
)

// tuneGC applies serve's collector settings unless the operator set
// GOGC or GOMEMLIMIT (getenv is os.Getenv), which the runtime has
// already applied and which win.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" && debug.SetMemoryLimit(-1) == math.MaxInt64 {
		debug.SetMemoryLimit(serveMemoryGoal)
	}
}
