package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/enneo-edge/enneo-edge/config"
	"github.com/enneo-edge/enneo-edge/db/engine"
)

// runBackup copies the running server's database to a file: the server
// streams a consistent snapshot (GET /edge/v1/backup), and the copy is
// checked before it takes the file's name, so FILE is either a good backup
// or absent.
func runBackup(args []string) error {
	fs := newFlags("backup")
	cfgPath := fs.String("config", config.DefaultPath, "TOML config file of the running server")
	url := fs.String("url", "", "server base URL (default: from server.listen)")
	tokenFile := fs.String("token-file", "", "file holding the admin API token (default: $ENNEO_EDGE_TOKEN, then the first admin token of auth.tokens)")
	// No -token: a command line is visible to every user in ps.
	timeout := durationVar(fs, "timeout", 30*time.Minute, "give up after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 1, 1, "one FILE"); err != nil {
		return err
	}
	dest := fs.Arg(0)
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	tok, err := cliToken(*tokenFile, cfg)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	base := *url
	if base == "" {
		if base, err = localURL(cfg); err != nil {
			return err
		}
	}
	client, err := backupClient(cfg, *timeout)
	if err != nil {
		return err
	}
	n, err := download(client, strings.TrimSuffix(base, "/")+"/edge/v1/backup", tok, dest)
	if err != nil {
		return err
	}
	summary, err := checkFile(dest+".partial", false)
	if err != nil {
		_ = os.Remove(dest + ".partial")
		return fmt.Errorf("backup copy failed its check, nothing kept: %w", err)
	}
	if err := os.Rename(dest+".partial", dest); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := engine.SyncDir(filepath.Dir(dest)); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Printf("backup %s: %d bytes, checked: %s", dest, n, strings.TrimPrefix(summary, dest+".partial: "))
	return nil
}

// download writes the snapshot to dest.partial and fsyncs it.
func download(client *http.Client, url, tok, dest string) (int64, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("backup: is the server running? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("backup: server answered %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	f, err := os.OpenFile(dest+".partial", os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	n, err := io.Copy(f, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("got %d of %d bytes", n, resp.ContentLength)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(dest + ".partial")
		return 0, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

// backupClient trusts the system roots plus the server's own certificate,
// so a self-signed appliance certificate works.
func backupClient(cfg config.Config, timeout time.Duration) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.Server.TLSCertFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(cfg.Server.TLSCertFile)
		if err != nil {
			return nil, fmt.Errorf("server.tls_cert_file: %w", err)
		}
		pool.AppendCertsFromPEM(pem)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// cliToken is the admin token a command presents to the running server:
// from file (its first line that is not a comment, or the "admin" line of
// the generated-tokens file), else $ENNEO_EDGE_TOKEN, else the first admin
// token of auth.tokens. Never from the command line, which ps shows.
func cliToken(file string, cfg config.Config) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("token file: %w", err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "pbx ") {
				continue
			}
			return strings.TrimSpace(strings.TrimPrefix(line, "admin ")), nil
		}
		return "", fmt.Errorf("token file %s holds no token", file)
	}
	if tok := os.Getenv("ENNEO_EDGE_TOKEN"); tok != "" {
		return tok, nil
	}
	if admin := cfg.Auth.TokensFor("admin"); len(admin) > 0 {
		return admin[0], nil
	}
	return "", errors.New("no admin API token: pass -token-file FILE, set ENNEO_EDGE_TOKEN or configure an admin token in auth.tokens")
}
