// Package tlsconf builds the edge's TLS settings: the server certificate,
// reloadable without a restart, and the client settings that verify
// central's certificate against an optional private CA.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// Reloader serves the certificate in a pair of PEM files and swaps it for a
// new one on Reload. Connections already open keep theirs; new handshakes
// get the new one, so a reload drops no call.
type Reloader struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

// NewReloader loads the pair once; a pair that does not load is an error
// at start-up rather than at the first handshake.
func NewReloader(certFile, keyFile string) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the files again. On error the certificate in use stays.
func (r *Reloader) Reload() error {
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s / key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert.Store(&c)
	return nil
}

// NotAfter is when the certificate in use expires.
func (r *Reloader) NotAfter() time.Time {
	c := r.cert.Load()
	if c == nil || c.Leaf == nil {
		return time.Time{}
	}
	return c.Leaf.NotAfter
}

// aeadSuites are the TLS 1.2 suites offered: forward-secret and AEAD
// only. Go's defaults add CBC-SHA1 suites for old clients; a PBX new
// enough for TLS 1.2 has these. TLS 1.3's suites are all AEAD and not
// configurable.
func aeadSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// ServerConfig is the listener's TLS configuration.
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: aeadSuites(),
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.cert.Load(), nil
		},
	}
}

// ClientConfig verifies central's certificate against the PEM bundle in
// caFile, or against the system's roots when caFile is empty.
func ClientConfig(caFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("upstream.ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("upstream.ca_file: %s: %w", caFile, errNoCerts)
	}
	c.RootCAs = pool
	return c, nil
}

var errNoCerts = errors.New("no PEM certificates found")

// Transport is an http.Transport for the forwarder that verifies central
// with ClientConfig(caFile).
func Transport(caFile string) (*http.Transport, error) {
	c, err := ClientConfig(caFile)
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = c
	return t, nil
}
