package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/enneo-edge/enneo-edge/config"
)

// newFlags is a subcommand's flag set. It prints nothing itself: a parse
// error is returned and printed once by main, and -h prints the command's
// usage lines (with its arguments) and flags through parseFlags.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args, prints the usage on -h (main then exits 0) and
// names the help on a bad flag.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(fs)
		return err
	}
	if err != nil {
		return fmt.Errorf("%w (enneo-edge %s -h lists its flags)", err, fs.Name())
	}
	return nil
}

func printHelp(fs *flag.FlagSet) {
	fmt.Fprintf(os.Stderr, "Usage:\n%s\nFlags:\n", usageOf(fs.Name()))
	fs.SetOutput(os.Stderr)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	if fs.Name() == "outbox" {
		fmt.Fprint(os.Stderr, "\n"+outboxNotes)
	}
}

// wantArgs refuses fewer than min or more than max positional arguments
// (max < 0: no limit), naming what the command takes.
func wantArgs(fs *flag.FlagSet, min, max int, what string) error {
	n := fs.NArg()
	switch {
	case n < min:
		return fmt.Errorf("missing %s (enneo-edge %s -h shows the usage)", what, fs.Name())
	case max >= 0 && n > max:
		extra := fs.Args()[max:]
		return fmt.Errorf("unexpected arguments: %s (enneo-edge %s takes %s)", strings.Join(extra, " "), fs.Name(), what)
	}
	return nil
}

// localURL is how a command on this host reaches the server the config
// describes (backup, outbox): server.listen with a wildcard host as the
// loopback address, and https when the server has a certificate, since
// it then speaks only TLS. A random port (":0") cannot be guessed.
func localURL(cfg config.Config) (string, error) {
	listen := cfg.Server.Listen
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("server.listen %q: %w", listen, err)
	}
	if port == "0" {
		return "", fmt.Errorf("server.listen %q picks a random port: pass -url", listen)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	scheme := "http"
	if cfg.Server.TLSCertFile != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// usageOf returns the lines of usage that describe one command: its own
// line and the indented ones after it.
func usageOf(command string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(usage, "\n") {
		if strings.HasPrefix(line, "  enneo-edge ") {
			in = strings.HasPrefix(line, "  enneo-edge "+command+" ")
		}
		if in {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// durationFlag is a time.Duration flag whose error says what is wrong
// ("missing unit"), where flag.Duration says only "parse error".
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a number with a unit, such as 10s, 500ms or 2m (%w)", err)
	}
	*f.d = d
	return nil
}

// durationVar defines a duration flag with durationFlag's messages.
func durationVar(fs *flag.FlagSet, name string, value time.Duration, help string) *time.Duration {
	d := value
	fs.Var(durationFlag{&d}, name, help)
	return &d
}

// adminConn is how an admin subcommand (outbox, cluster) reaches the
// running server the config describes.
type adminConn struct {
	base, token string
	http        *http.Client
}

// dialAdmin reads the config at cfgPath and fills in what the flags left
// empty: the server's URL from server.listen, the token from auth.tokens'
// first admin token; the client trusts the appliance's own certificate,
// as backup does.
func dialAdmin(cfgPath, base, token string, timeout time.Duration) (adminConn, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return adminConn{}, err
	}
	if base == "" {
		if base, err = localURL(cfg); err != nil {
			return adminConn{}, err
		}
	}
	if admin := cfg.Auth.TokensFor("admin"); token == "" && len(admin) > 0 {
		token = admin[0]
	}
	if token == "" {
		return adminConn{}, errors.New("no API token: pass -token or set ENNEO_EDGE_TOKEN (the token printed at first start)")
	}
	hc, err := backupClient(cfg, timeout)
	if err != nil {
		return adminConn{}, err
	}
	return adminConn{base: strings.TrimSuffix(base, "/"), token: token, http: hc}, nil
}
