package app

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"

	"github.com/enneo-edge/enneo-edge/config"
	"github.com/enneo-edge/enneo-edge/tlsconf"
)

// listen opens the listener: plain TCP, or TLS when a certificate is
// configured. The reloader is nil without TLS.
func listen(cfg config.Config) (net.Listener, *tlsconf.Reloader, error) {
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("server.listen: %w", err)
	}
	if cfg.Server.TLSCertFile == "" {
		return ln, nil, nil
	}
	rl, err := tlsconf.NewReloader(cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile)
	if err != nil {
		_ = ln.Close()
		return nil, nil, fmt.Errorf("server.tls_cert_file: %w", err)
	}
	return tls.NewListener(ln, rl.ServerConfig()), rl, nil
}

// listenDescription is the address the socket is really bound to, as a
// URL, and for a wildcard address which interfaces that means and how this
// machine reaches it: an admin checking exposure reads this line.
func listenDescription(ln net.Listener, tlsOn bool) string {
	addr := ln.Addr().(*net.TCPAddr)
	scheme := "http"
	if tlsOn {
		scheme = "https"
	}
	bound := scheme + "://" + net.JoinHostPort(addr.IP.String(), fmt.Sprint(addr.Port))
	if addr.IP.IsUnspecified() {
		return bound + " (all interfaces; from this machine " + baseURL(ln, tlsOn) + ")"
	}
	return bound
}

// baseURL is how the process reaches its own listener.
func baseURL(ln net.Listener, tlsOn bool) string {
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP
	if host.IsUnspecified() {
		host = net.IPv4(127, 0, 0, 1)
	}
	scheme := "http"
	if tlsOn {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host.String(), fmt.Sprint(addr.Port))
}

// reloadCerts rereads the TLS certificate on SIGHUP; a bad file keeps the
// one in use.
func reloadCerts(certs *tlsconf.Reloader, log *slog.Logger) {
	if certs == nil {
		log.Info("SIGHUP: no TLS certificate configured, nothing to reload")
		return
	}
	if err := certs.Reload(); err != nil {
		log.Error("SIGHUP: TLS certificate not reloaded; keeping the one in use", "err", err)
		return
	}
	log.Info("SIGHUP: TLS certificate reloaded", "notAfter", certs.NotAfter())
}
