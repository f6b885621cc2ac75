// Command fixed is the ceiling of the stack: a fasthttp server that answers
// every callReceived with the same callReceived-shaped body, without
// reading the request, touching a disk or checking a token. Nothing built
// on fasthttp can be faster on the same machine.
//
//	go run ./bench/baseline/fixed -listen 127.0.0.1:0
//
// With -delay it answers after a fixed pause instead: a target whose true
// latency is known, to check load generators against each other.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/valyala/fasthttp"
)

var answer = []byte(`{"success":true,"ticketId":1000100000000001,"contractId":null,"customerId":null,"ioResponse":"None, as routing is not external","queueId":1000100000000001}`)

func main() {
	listen := flag.String("listen", "127.0.0.1:8006", "address to listen on (port 0 picks a free one)")
	delay := flag.Duration("delay", 0, "pause before each answer (a target of known latency)")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fixed:", err)
		os.Exit(1)
	}
	// Scripts read this line to learn the port.
	fmt.Printf("fixed baseline listening on http://%s\n", ln.Addr())
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			if *delay > 0 {
				time.Sleep(*delay)
			}
			ctx.SetContentType("application/json")
			ctx.SetBody(answer)
		},
		NoDefaultServerHeader: true,
	}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "fixed:", err)
		os.Exit(1)
	}
}
