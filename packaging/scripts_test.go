package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMaintainerScripts runs each script with the arguments dpkg and rpm
// pass, against a systemctl that only records its calls, with and
// without systemd running. "Running" is a private mount namespace with
// /run/systemd/system in a fresh /run, and /var/lib is a fresh tmpfs, so
// the machine's own are never touched. Needs root (unshare -m).
func TestMaintainerScripts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a private mount namespace (unshare -m)")
	}
	tool(t, "unshare", "util-linux")
	cases := []struct {
		script, args string
		systemd      bool
		want         string // systemctl calls, one per line
		state        bool   // a database exists before the script runs
		stateAfter   bool
		says         string
	}{
		// deb: postinst configure [old version]
		{script: "postinstall.sh", args: "configure", systemd: true, want: "daemon-reload\nenable enneo-edge.service", says: "enabled, not started"},
		{script: "postinstall.sh", args: "configure 0.9.0-1", systemd: true, want: "daemon-reload\ntry-restart enneo-edge.service"},
		{script: "postinstall.sh", args: "configure 0.9.0-1", systemd: false, want: "", says: "restart enneo-edge yourself"},
		{script: "postinstall.sh", args: "configure", systemd: false, want: "enable enneo-edge.service"},
		{script: "postinstall.sh", args: "abort-upgrade 1.0.0-1", systemd: true, want: ""},
		// rpm: %post 1 (install) or 2 (upgrade)
		{script: "postinstall.sh", args: "1", systemd: true, want: "daemon-reload\nenable enneo-edge.service"},
		{script: "postinstall.sh", args: "2", systemd: true, want: "daemon-reload\ntry-restart enneo-edge.service"},
		// deb prerm remove|upgrade; rpm %preun 0 (removal) or 1 (upgrade)
		{script: "preremove.sh", args: "remove", systemd: true, want: "stop enneo-edge.service\ndisable enneo-edge.service"},
		{script: "preremove.sh", args: "upgrade 1.0.1-1", systemd: true, want: ""},
		{script: "preremove.sh", args: "0", systemd: true, want: "stop enneo-edge.service\ndisable enneo-edge.service"},
		{script: "preremove.sh", args: "1", systemd: true, want: ""},
		{script: "preremove.sh", args: "remove", systemd: false, want: "disable enneo-edge.service"},
		// deb postrm remove|purge|upgrade; rpm %postun 0 or 1
		{script: "postremove.sh", args: "remove", systemd: true, want: "daemon-reload", state: true, stateAfter: true, says: "kept the database"},
		{script: "postremove.sh", args: "0", systemd: false, want: "", state: true, stateAfter: true, says: "kept the database"},
		{script: "postremove.sh", args: "upgrade 1.0.1-1", systemd: true, want: "daemon-reload", state: true, stateAfter: true},
		{script: "postremove.sh", args: "1", systemd: true, want: "daemon-reload", state: true, stateAfter: true},
		{script: "postremove.sh", args: "purge", systemd: false, want: "", state: true, stateAfter: false, says: "deleted the database"},
	}
	for _, c := range cases {
		t.Run(strings.TrimSuffix(c.script, ".sh")+" "+c.args+map[bool]string{true: " systemd", false: " no-systemd"}[c.systemd], func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "calls")
			fake := filepath.Join(dir, "bin")
			if err := os.Mkdir(fake, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(fake, "systemctl"), []byte("#!/bin/sh\necho \"$*\" >> "+log+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			script, err := filepath.Abs(filepath.Join("scripts", c.script))
			if err != nil {
				t.Fatal(err)
			}
			setup := "mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var/lib"
			if c.systemd {
				setup += " && mkdir -p /run/systemd/system"
			}
			if c.state {
				setup += " && mkdir -p /var/lib/private/enneo-edge && ln -s private/enneo-edge /var/lib/enneo-edge && echo calls > /var/lib/enneo-edge/edge.db"
			}
			check := "if [ -e /var/lib/private/enneo-edge/edge.db ] || [ -e /var/lib/enneo-edge ]; then echo STATE-KEPT; else echo STATE-GONE; fi"
			sh := setup + " && sh " + script + " " + c.args + "; rc=$?; " + check + "; exit $rc"
			cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", sh)
			cmd.Env = append(os.Environ(), "PATH="+fake+":"+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s %s: %v\n%s", c.script, c.args, err, out)
			}
			calls, _ := os.ReadFile(log)
			if got := strings.TrimSpace(string(calls)); got != c.want {
				t.Errorf("systemctl calls:\n%s\nwant:\n%s", got, c.want)
			}
			if c.says != "" && !strings.Contains(string(out), c.says) {
				t.Errorf("output lacks %q:\n%s", c.says, out)
			}
			if c.state {
				kept := strings.Contains(string(out), "STATE-KEPT")
				if kept != c.stateAfter {
					t.Errorf("database kept = %v, want %v:\n%s", kept, c.stateAfter, out)
				}
			}
		})
	}
}
