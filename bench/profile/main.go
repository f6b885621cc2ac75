// Command profile is `enneo-edge serve` with Go's profilers on a side
// port: the same app.New and Run as serve, plus net/http/pprof (CPU,
// heap, allocs, mutex, block, goroutine, runtime/trace) on -pprof. It is
// how the "Where the time goes" section of BENCHMARKS.md was measured:
//
//	go run ./bench/profile -config edge.toml -pprof 127.0.0.1:6060 &
//	enneo-edge bench -disposable -url http://... -rate 1000 -duration 30s &
//	curl -o cpu.pprof 'http://127.0.0.1:6060/debug/pprof/profile?seconds=10'
//	curl -o trace.out 'http://127.0.0.1:6060/debug/pprof/trace?seconds=2'
//	go tool pprof -top cpu.pprof
//
// -floor opens the database with durability free (no log, bbolt without
// fsync): bench/compare.sh's target floor, what the call domain and bbolt
// cost on their own, which no log design can go below.
//
// -mutex and -block set the sampling rates (0 leaves them off: each costs
// time on the measured path). Not for production: the pprof port has no
// authentication.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // the profiler's handlers on http.DefaultServeMux
	"os"
	"runtime"

	"github.com/enneo-edge/enneo-edge/app"
	"github.com/enneo-edge/enneo-edge/config"
)

func main() {
	cfgPath := flag.String("config", config.DefaultPath, "TOML config file")
	addr := flag.String("pprof", "127.0.0.1:6060", "address of the profiler's HTTP server")
	mutex := flag.Int("mutex", 0, "runtime.SetMutexProfileFraction (0: off)")
	block := flag.Int("block", 0, "runtime.SetBlockProfileRate in ns (0: off)")
	floor := flag.Bool("floor", false, "open the database with no fsync at all (no log, bbolt NoSync): the floor under every log design; a crash loses calls")
	flag.Parse()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "profile:", err)
		os.Exit(1)
	}
	app.TuneGC(os.Getenv) // the collector as serve sets it
	runtime.SetMutexProfileFraction(*mutex)
	runtime.SetBlockProfileRate(*block)
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fail(err)
	}
	go func() { fail(http.ListenAndServe(*addr, nil)) }()
	a, err := app.New(cfg, app.Options{Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), Stdout: os.Stdout, NoDurability: *floor})
	if err != nil {
		fail(err)
	}
	err = a.Run(context.Background())
	_ = a.Close()
	if err != nil {
		fail(err)
	}
}
