// Command enneo-edge answers the enneo telephony API beside a PBX, durably
// and in about a millisecond, and forwards everything to central enneo.
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `enneo-edge: the enneo telephony API at the edge

Usage:
  enneo-edge serve   [-config FILE]        run the appliance
  enneo-edge import  [-config FILE] FILE   load customers (CSV with header row, or JSON Lines)
  enneo-edge check   [-config FILE] [DBFILE]  verify a database file (read-only)
  enneo-edge backup  [-config FILE] [-token TOKEN] FILE
                                           copy the running server's database to FILE
  enneo-edge outbox  [-config FILE] list|retry SEQ|retry-all
                                           forwarding backlog and dead letters (via the running server)
  enneo-edge bench   -url URL [-token T] [-rate N] [-duration D] [-compare URL2] [-out FILE.svg] [-json]
                                           measure callReceived latency of any enneo server
  enneo-edge version                       print the version

Without -config, enneo-edge.toml in the working directory is read when it
exists; otherwise the embedded defaults apply (127.0.0.1:8005, data/edge.db).
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "serve":
		err = runServe(args)
	case "import":
		err = runImport(args)
	case "check":
		err = runCheck(args)
	case "backup":
		err = runBackup(args)
	case "outbox":
		err = runOutbox(args)
	case "bench":
		err = runBench(args)
	case "version", "-version", "--version":
		fmt.Println("enneo-edge", version)
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "enneo-edge: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "enneo-edge %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
