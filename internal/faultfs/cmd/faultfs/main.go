// Command faultfs mounts a fault file system (internal/faultfs) over a
// backing directory, for power-loss tests driven from outside a Go test:
//
//	go run ./internal/faultfs/cmd/faultfs -backing DATA -mount MNT &
//	# wait for the line "mounted MNT" on stdout, start the program on MNT
//	kill -USR1 $faultfs_pid   # power loss: Cut, then unmount, then exit 0
//	                          # (SIGUSR2: CutTorn with -seed, random when 0; it prints "cut torn SEED")
//	kill -KILL $program_pid   # (in either order: after the cut nothing reaches DATA)
//	wait $faultfs_pid         # DATA now holds what was synced
//
// SIGTERM or SIGINT unmount cleanly instead (everything written stays).
// The exit status is 1 when the mount, the cut or the unmount failed.
package main

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"syscall"

	"github.com/enneo-edge/enneo-edge/internal/faultfs"
)

func main() {
	backing := flag.String("backing", "", "directory that holds the durable state (required)")
	mnt := flag.String("mount", "", "empty directory to mount on (required)")
	seed := flag.Uint64("seed", 0, "seed of the torn cut on SIGUSR2 (0: random)")
	flag.Parse()
	if *backing == "" || *mnt == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: faultfs -backing DIR -mount DIR")
		os.Exit(2)
	}
	if *seed == 0 {
		*seed = rand.Uint64()
	}
	if err := run(*backing, *mnt, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "faultfs:", err)
		os.Exit(1)
	}
}

func run(backing, mnt string, seed uint64) error {
	// Signals are caught before the mount, so that one sent right after
	// the "mounted" line cannot kill the process with the mount left.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTERM, syscall.SIGINT)
	fsys, err := faultfs.Mount(backing, mnt)
	if err != nil {
		return err
	}
	fmt.Println("mounted", mnt)
	var cut error
	switch <-sigs {
	case syscall.SIGUSR1:
		if cut = fsys.Cut(); cut == nil {
			fmt.Println("cut")
		}
	case syscall.SIGUSR2:
		if cut = fsys.CutTorn(seed); cut == nil {
			fmt.Println("cut torn", seed)
		}
	}
	return errors.Join(cut, fsys.Unmount())
}
