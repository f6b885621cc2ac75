// Command faultfs mounts a fault file system (internal/faultfs) over a
// backing directory, for power-loss tests driven from outside a Go test:
//
//	go run ./internal/faultfs/cmd/faultfs -backing DATA -mount MNT &
//	# wait for the line "mounted MNT" on stdout, start the program on MNT
//	kill -USR1 $faultfs_pid   # power loss: Cut, then unmount, then exit 0
//	kill -KILL $program_pid   # (in either order: after the cut nothing reaches DATA)
//	wait $faultfs_pid         # DATA now holds what was synced
//
// SIGTERM or SIGINT unmount cleanly instead (everything written stays).
// The exit status is 1 when the mount, the cut or the unmount failed.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/enneo-edge/enneo-edge/internal/faultfs"
)

func main() {
	backing := flag.String("backing", "", "directory that holds the durable state (required)")
	mnt := flag.String("mount", "", "empty directory to mount on (required)")
	flag.Parse()
	if *backing == "" || *mnt == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: faultfs -backing DIR -mount DIR")
		os.Exit(2)
	}
	if err := run(*backing, *mnt); err != nil {
		fmt.Fprintln(os.Stderr, "faultfs:", err)
		os.Exit(1)
	}
}

func run(backing, mnt string) error {
	// Signals are caught before the mount, so that one sent right after
	// the "mounted" line cannot kill the process with the mount left.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	fsys, err := faultfs.Mount(backing, mnt)
	if err != nil {
		return err
	}
	fmt.Println("mounted", mnt)
	if <-sigs == syscall.SIGUSR1 {
		if err := fsys.Cut(); err != nil {
			_ = fsys.Unmount()
			return err
		}
		fmt.Println("cut")
	}
	return fsys.Unmount()
}
