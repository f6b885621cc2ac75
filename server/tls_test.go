package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/auth"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/internal/testcert"
	"github.com/enneo-edge/enneo-edge/phone"
	"github.com/enneo-edge/enneo-edge/tlsconf"
)

// TestTLSServesAndReloads serves callReceived over TLS with a certificate
// made here, then replaces the certificate: a keep-alive connection opened
// before the reload keeps working, a new one gets the new certificate.
func TestTLSServesAndReloads(t *testing.T) {
	dir := t.TempDir()
	cf, kf, c1 := testcert.Write(t, dir, 1)
	rl, err := tlsconf.NewReloader(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	store, err := db.Open(filepath.Join(dir, "edge.db"), db.Options{SiteID: 7})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go store.Run(ctx)
	a, _ := auth.New(auth.Options{Tokens: []string{testToken}})
	pn, _ := phone.NewNormalizer("DE")
	srv := New(store, a, pn, slog.New(slog.NewTextHandler(io.Discard, nil)), Limits{ReadTimeout: 5 * time.Second,
		WriteTimeout: 5 * time.Second, IdleTimeout: time.Minute, MaxBodyBytes: 1 << 20, ReadBufferBytes: 16 << 10, MaxConnections: 64}, WithTLS(true))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(tls.NewListener(ln, rl.ServerConfig())) }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		cancel()
		_ = store.Close()
	})
	url := "https://" + ln.Addr().String() + callReceivedPath

	client := func(trusted ...*x509.Certificate) (*http.Client, *http.Transport) {
		pool := x509.NewCertPool()
		for _, c := range trusted {
			pool.AddCert(c)
		}
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}, tr
	}
	post := func(c *http.Client, channel string) (*http.Response, error) {
		req, _ := http.NewRequest("POST", url, strings.NewReader(`{"channelId":"`+channel+`"}`))
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := c.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}

	old, oldTr := client(c1)
	defer oldTr.CloseIdleConnections()
	resp, err := post(old, "tls-1")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("call over TLS: %v %v", resp, err)
	}
	if got := resp.TLS.PeerCertificates[0].SerialNumber.Int64(); got != 1 {
		t.Fatalf("served certificate serial %d, want 1", got)
	}
	if h := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(h, "max-age=") {
		t.Errorf("no HSTS over TLS: %q", h)
	}
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Error("plain HTTP answered on the TLS port")
	}

	_, _, c2 := testcert.Write(t, dir, 2)
	if err := rl.Reload(); err != nil {
		t.Fatal(err)
	}
	// The connection made before the reload is reused and still works.
	resp, err = post(old, "tls-2")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("call on the old connection after reload: %v %v", resp, err)
	}
	if got := resp.TLS.PeerCertificates[0].SerialNumber.Int64(); got != 1 {
		t.Errorf("old connection now shows serial %d; it should have been kept", got)
	}
	fresh, freshTr := client(c2)
	defer freshTr.CloseIdleConnections()
	resp, err = post(fresh, "tls-3")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("call on a new connection after reload: %v %v", resp, err)
	}
	if got := resp.TLS.PeerCertificates[0].SerialNumber.Int64(); got != 2 {
		t.Errorf("new connection got serial %d, want 2", got)
	}
	if _, err := post(func() *http.Client { c, _ := client(c1); return c }(), "tls-4"); err == nil {
		t.Error("a client trusting only the old certificate still connected after reload")
	}
}
