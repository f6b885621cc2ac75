package tlsconf

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/enneo-edge/enneo-edge/internal/testcert"
)

func TestReloadKeepsOldCertOnError(t *testing.T) {
	dir := t.TempDir()
	cf, kf, c1 := testcert.Write(t, dir, 1)
	r, err := NewReloader(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cf, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = r.Reload()
	if err == nil || !strings.Contains(err.Error(), "load TLS certificate "+cf) {
		t.Fatalf("reload of a broken file: %v", err)
	}
	if !r.NotAfter().Equal(c1.NotAfter) {
		t.Error("the certificate in use changed after a failed reload")
	}
	if _, err := NewReloader(filepath.Join(dir, "missing.crt"), kf); err == nil {
		t.Error("NewReloader accepted a missing file")
	}
}

func TestClientConfig(t *testing.T) {
	dir := t.TempDir()
	cf, kf, _ := testcert.Write(t, dir, 7)
	srvCert, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	central := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	central.TLS = &tls.Config{Certificates: []tls.Certificate{srvCert}}
	central.StartTLS()
	defer central.Close()

	notPEM := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(notPEM, []byte("nothing here"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		caFile  string
		wantErr string // from ClientConfig
		wantGet string // from the request to central
	}{
		{"private CA trusted", cf, "", ""},
		{"system roots do not know it", "", "", "certificate signed by unknown authority"},
		{"missing file", filepath.Join(dir, "nope.pem"), "upstream.ca_file: open", ""},
		{"no certificates", notPEM, "no PEM certificates found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := Transport(tt.caFile)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Get(central.URL)
			if tt.wantGet != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantGet) {
					t.Fatalf("get: %v, want %q", err, tt.wantGet)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		})
	}
}

// TestServerRefusesCBCSuites: a TLS 1.2 client offering only the CBC-SHA1
// suites Go enables by default is refused; an AEAD suite is taken.
func TestServerRefusesCBCSuites(t *testing.T) {
	dir := t.TempDir()
	cf, kf, _ := testcert.Write(t, dir, 3)
	r, err := NewReloader(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", r.ServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	dial := func(suite uint16) error {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, //nolint:gosec // handshake test only
			MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
		if err == nil {
			c.Close()
		}
		return err
	}
	for _, s := range []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA} {
		if err := dial(s); err == nil {
			t.Errorf("TLS 1.2 handshake with %s succeeded", tls.CipherSuiteName(s))
		}
	}
	ok := 0
	for _, s := range aeadSuites() {
		if dial(s) == nil {
			ok++
		}
	}
	if ok == 0 {
		t.Fatal("no AEAD suite could be negotiated")
	}
}
