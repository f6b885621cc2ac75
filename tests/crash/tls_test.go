package crash

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/testcert"
)

// TestTLSReloadOnSIGHUP runs the binary with a self-signed certificate,
// replaces the certificate and sends SIGHUP while a keep-alive connection
// is open: that connection keeps working, new ones get the new
// certificate, and `enneo-edge backup` works over TLS.
func TestTLSReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	cf, kf, c1 := testcert.Write(t, dir, 1)
	cfg := writeConfig(t, dir)
	raw, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(raw), "[server]\n",
		fmt.Sprintf("[server]\ntls_cert_file = %q\ntls_key_file = %q\n", cf, kf), 1)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startEnv(t, cfg, nil)
	if !strings.HasPrefix(e.URL, "https://") {
		t.Fatalf("listening on %s, want https", e.URL)
	}
	client := func(c *x509.Certificate) (*http.Client, *http.Transport) {
		pool := x509.NewCertPool()
		pool.AddCert(c)
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}, tr
	}
	call := func(c *http.Client, ch string) (*http.Response, error) {
		req, _ := http.NewRequest("POST", e.URL+"/api/mind/telephony/callReceived", strings.NewReader(`{"channelId":"`+ch+`"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	old, oldTr := client(c1)
	defer oldTr.CloseIdleConnections()
	if resp, err := call(old, "t-1"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("call over TLS: %v %v\n%s", resp, err, e.Logs)
	}

	_, _, c2 := testcert.Write(t, dir, 2)
	if err := e.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	fresh, freshTr := client(c2)
	defer freshTr.CloseIdleConnections()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := call(fresh, "t-new")
		if err == nil && resp.StatusCode == 200 && resp.TLS.PeerCertificates[0].SerialNumber.Int64() == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new connections never got the new certificate: %v %v\n%s", resp, err, e.Logs)
		}
		freshTr.CloseIdleConnections()
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := call(old, "t-2")
	if err != nil || resp.StatusCode != 200 || resp.TLS.PeerCertificates[0].SerialNumber.Int64() != 1 {
		t.Fatalf("the keep-alive connection opened before SIGHUP: %v %v", resp, err)
	}

	backup := filepath.Join(t.TempDir(), "tls-backup.db")
	if out, err := exec.Command(binary, "backup", "-config", cfg, "-url", e.URL, backup).CombinedOutput(); err != nil {
		t.Fatalf("backup over TLS: %v\n%s", err, out)
	}
	// The log is read once the process is gone (its writer is then done).
	_ = e.Cmd.Process.Signal(syscall.SIGTERM)
	<-e.Done
	if !strings.Contains(e.Logs.String(), "TLS certificate reloaded") {
		t.Errorf("no log line for the reload:\n%s", e.Logs)
	}
}
