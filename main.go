// Command enneo-edge answers the enneo telephony API beside a PBX, durably
// and in about a millisecond, and forwards everything to central enneo.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
)

const usage = `enneo-edge: the enneo telephony API at the edge

Usage:
  enneo-edge serve   [-config FILE] [-debug]   run the appliance (-debug: log every call)
  enneo-edge import  [-config FILE] [-format auto|csv|jsonl] [-partial] FILE
                                               load customers (CSV with a header row, or JSON Lines);
                                               a file with bad lines imports nothing unless -partial
  enneo-edge check   [-config FILE] [-quick] [DBFILE]
                                               verify a database file (replays its write-ahead log
                                               first; -quick: only the check every start runs)
  enneo-edge export  [-config FILE] [-format jsonl|csv] [-before D] [-o FILE] [DBFILE]
                                               write the tickets as JSON Lines or CSV (server stopped,
                                               or from a backup); -before: only those changed before
  enneo-edge backup  [-config FILE] [-url URL] [-token-file F] [-timeout D] FILE
                                               copy the running server's database to FILE
  enneo-edge outbox  [-config FILE] [-url URL] [-token T] [-json] [list|retry SEQ|retry-all|dead-letter SEQ]
                                               forwarding backlog and dead letters (default: list)
  enneo-edge cluster [-config FILE] [-url URL] [-token T] [-json] [status|add NODE ADDR|remove NODE]
                                               cluster members, leader, applied index and lag; add or
                                               remove a member (default: status)
  enneo-edge bench   [-url URL -against-live [-agents] | -url URL -disposable] [-token T] [-name N] [-rate N]
                     [-duration D] [-concurrency C] [-timeout D] [-mix FILE] [-seed S]
                     [-compare URL2 [-token2 T] [-name2 N]] [-out FILE.svg|.png] [-json]
                     [-vegeta-targets FILE]
                                               measure callReceived latency: of a private appliance
                                               on a temporary database, or with -against-live of the
                                               server at URL (routing none calls, one closed ticket each);
                                               -disposable: URL is a scratch server, any calls
  enneo-edge version                           print the version and the commit it was built from

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
	case "export":
		err = runExport(args)
	case "outbox":
		err = runOutbox(args)
	case "cluster":
		err = runCluster(args)
	case "bench":
		err = runBench(args)
	case "version", "-version", "--version":
		v, commit := buildInfo()
		fmt.Printf("enneo-edge %s (commit %s, %s)\n", v, commit, runtime.Version())
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "enneo-edge: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		// -h asked for the usage, which was printed: not a failure.
	case err != nil:
		fmt.Fprintf(os.Stderr, "enneo-edge %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
