// Command durable is the physical limit of a durable answer on this disk:
// a fasthttp handler that appends each request body to one preallocated
// file and answers once an fdatasync covers it. Concurrent calls share the
// fdatasync (group commit with no batching delay: the bodies that arrive
// while one fdatasync runs are written and fsynced together by the next).
// No parsing, no index, no token check: whatever a durable server does
// beyond this is its own cost, so every enneo-edge latency is read as a
// ratio to this one, measured in the same run (bench/compare.sh).
//
//	go run ./bench/baseline/durable -listen 127.0.0.1:0 -file /tmp/durable.log
//
// The file is written through once at start (-prealloc zero, the default),
// so an fdatasync carries data only; -prealloc fallocate reserves the
// space without writing it, as the edge's log does, and every first write
// into a block then also converts its extent (file-system metadata). When
// the file is full the appends wrap to its start: it never grows.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"sync"

	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"
)

var answer = []byte(`{"success":true,"ticketId":1000100000000001,"contractId":null,"customerId":null,"ioResponse":"None, as routing is not external","queueId":1000100000000001}`)

// journal is the group commit: add appends a body to the batch being
// filled and returns its sequence number; the sync loop writes each batch
// with one pwrite, fdatasyncs it and wakes the callers it covers.
type journal struct {
	f    *os.File
	size int64
	off  int64

	mu      sync.Mutex
	cond    *sync.Cond // signalled when synced advances or work arrives
	buf     []byte     // bodies not yet written
	added   uint64     // sequence number of the last body added
	synced  uint64     // every body up to this one is durable
	failed  error
	wakeups chan struct{}
}

func newJournal(f *os.File, size int64) *journal {
	j := &journal{f: f, size: size, wakeups: make(chan struct{}, 1)}
	j.cond = sync.NewCond(&j.mu)
	return j
}

// add appends body and waits until an fdatasync covers it.
func (j *journal) add(body []byte) error {
	j.mu.Lock()
	j.buf = append(j.buf, body...)
	j.added++
	seq := j.added
	j.mu.Unlock()
	select {
	case j.wakeups <- struct{}{}:
	default:
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.synced < seq && j.failed == nil {
		j.cond.Wait()
	}
	return j.failed
}

// run is the sync loop: it never waits for more work than is there.
func (j *journal) run() {
	var out []byte
	for range j.wakeups {
		for {
			j.mu.Lock()
			if j.added == j.synced {
				j.mu.Unlock()
				break
			}
			out, j.buf = j.buf, out[:0]
			upto := j.added
			j.mu.Unlock()
			err := j.write(out)
			j.mu.Lock()
			if err != nil {
				j.failed = err
			}
			j.synced = upto
			j.cond.Broadcast()
			j.mu.Unlock()
		}
	}
}

// write appends p at the current offset (wrapping at the end of the file)
// and fdatasyncs it.
func (j *journal) write(p []byte) error {
	for len(p) > 0 {
		if j.off == j.size {
			j.off = 0
		}
		n := min(int64(len(p)), j.size-j.off)
		if _, err := j.f.WriteAt(p[:n], j.off); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		j.off += n
		p = p[n:]
	}
	if err := unix.Fdatasync(int(j.f.Fd())); err != nil {
		return fmt.Errorf("fdatasync: %w", err)
	}
	return nil
}

// prealloc makes the file size bytes long, written through (zero) or
// only reserved (fallocate), and durable.
func prealloc(f *os.File, size int64, how string) error {
	switch how {
	case "zero":
		chunk := make([]byte, 1<<20)
		for off := int64(0); off < size; off += int64(len(chunk)) {
			if _, err := f.WriteAt(chunk[:min(int64(len(chunk)), size-off)], off); err != nil {
				return err
			}
		}
	case "fallocate":
		if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
			return err
		}
	default:
		return fmt.Errorf("-prealloc %q: want zero or fallocate", how)
	}
	return f.Sync()
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8007", "address to listen on (port 0 picks a free one)")
	path := flag.String("file", "durable.log", "the file the bodies are appended to (overwritten)")
	size := flag.Int64("size", 64<<20, "file size in bytes; the appends wrap at its end")
	how := flag.String("prealloc", "zero", "zero (write the file through at start) or fallocate (reserve only)")
	flag.Parse()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "durable:", err)
		os.Exit(1)
	}
	f, err := os.OpenFile(*path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		fail(err)
	}
	if err := prealloc(f, *size, *how); err != nil {
		fail(fmt.Errorf("preallocate %s: %w", *path, err))
	}
	j := newJournal(f, *size)
	go j.run()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fail(err)
	}
	// Scripts read this line to learn the port.
	fmt.Printf("durable baseline listening on http://%s\n", ln.Addr())
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			if err := j.add(ctx.PostBody()); err != nil {
				ctx.Error(err.Error(), fasthttp.StatusInternalServerError)
				return
			}
			ctx.SetContentType("application/json")
			ctx.SetBody(answer)
		},
		NoDefaultServerHeader: true,
	}
	if err := srv.Serve(ln); err != nil {
		fail(err)
	}
}
