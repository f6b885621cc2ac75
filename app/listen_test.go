package app

import (
	"net"
	"strings"
	"testing"
)

// The printed address is the one the socket is bound to: a wildcard is
// shown as such, not as the loopback address the process uses itself.
func TestListenDescriptionIsTheBoundAddress(t *testing.T) {
	for listen, want := range map[string]string{
		// Go binds 0.0.0.0 as a dual-stack socket where the kernel has
		// IPv6, and reports [::] then.
		"0.0.0.0:0":   "http://BOUND (all interfaces; from this machine http://127.0.0.1:PORT)",
		"127.0.0.1:0": "http://127.0.0.1:PORT",
	} {
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		want = strings.ReplaceAll(want, "BOUND", net.JoinHostPort(ln.Addr().(*net.TCPAddr).IP.String(), port))
		if got := listenDescription(ln, false); got != strings.ReplaceAll(want, "PORT", port) {
			t.Errorf("%s: %q", listen, got)
		}
		ln.Close()
	}
}
