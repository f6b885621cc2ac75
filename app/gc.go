package app

import (
	"math"
	"runtime/debug"
)

// The garbage collector's settings for serve, chosen by measurement
// (BENCHMARKS.md, "Where the time goes"): the live heap under load is
// 7-8 MB, and most allocation is bbolt materialising the leaves a call
// touches, so at Go's default GOGC=100 the collector ran every ~12 ms at
// 1,000 calls/s and cost about 110 µs of CPU per call on two shared
// cores. GOGC=400 collects a quarter as often (peak heap 43 MB at
// 1,000 calls/s). At saturation with 256 connections the live set is
// larger and GOGC=400 alone let the heap reach 76 MB, past the 64 MB
// budget: the soft memory limit (56 MiB of Go memory: heap, stacks,
// runtime) makes the collector work harder there instead.
const (
	serveGCPercent  = 400
	serveMemoryGoal = 56 << 20
)

// TuneGC applies serve's collector settings unless the operator set
// GOGC or GOMEMLIMIT (getenv is os.Getenv), which the runtime has
// already applied and which win.
func TuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" && debug.SetMemoryLimit(-1) == math.MaxInt64 {
		debug.SetMemoryLimit(serveMemoryGoal)
	}
}
