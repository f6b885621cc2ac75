package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// checkListen accepts host:port with a numeric port 0..65535; the host may
// be empty to listen on all interfaces, and port 0 picks a free port (the
// serve command prints the one it got).
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be host:port, got %q: %w", addr, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port must be a number between 0 and 65535, got %q", port)
	}
	return nil
}

// isRegion reports whether s is two ASCII upper-case letters.
func isRegion(s string) bool {
	return len(s) == 2 &&
		s[0] >= 'A' && s[0] <= 'Z' &&
		s[1] >= 'A' && s[1] <= 'Z'
}

// checkReadableFile makes sure a key file is there and readable now, so a
// wrong path fails at start-up rather than on the first JWT. Its contents
// are parsed by the auth package.
func checkReadableFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory, want a PEM file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// checkUpstreamURL validates the central API base URL and returns it with
// a trailing slash removed.
func checkUpstreamURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	shown := u.Redacted() // never echo a password
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("must be an absolute http or https URL, got %q", shown)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("must include a host, got %q", shown)
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fmt.Errorf("must not contain user info, a query or a fragment, got %q", shown)
	}
	if !strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), upstreamPathSuffix) {
		return "", fmt.Errorf("path must end in %q, got %q", upstreamPathSuffix, u.Path)
	}
	return strings.TrimSuffix(raw, "/"), nil
}
