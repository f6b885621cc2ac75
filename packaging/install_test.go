package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// wantsLink is where `systemctl enable` puts the unit (WantedBy=).
const wantsLink = "/etc/systemd/system/multi-user.target.wants/enneo-edge.service"

// TestInstallUpgradeRemovePurge installs the .deb on this machine,
// upgrades it, removes it and purges it. It changes the system, so it
// runs only as root in CI (CI=true), and only when no enneo-edge is
// installed and no /var/lib/enneo-edge exists: a site's database is never
// at stake.
func TestInstallUpgradeRemovePurge(t *testing.T) {
	if !inCI || os.Geteuid() != 0 {
		t.Skip("installs a package on this machine: runs as root with CI=true only")
	}
	tool(t, "dpkg", "dpkg")
	if exec.Command("dpkg", "-s", "enneo-edge").Run() == nil {
		t.Skip("enneo-edge is installed here already; not touching it")
	}
	for _, p := range []string{"/var/lib/enneo-edge", "/var/lib/private/enneo-edge", "/etc/enneo-edge"} {
		if _, err := os.Lstat(p); err == nil {
			t.Skipf("%s exists here already; not touching it", p)
		}
	}
	old, _ := build(t, "1.0.0")
	next, _ := build(t, "1.0.1")
	t.Cleanup(func() {
		// Whatever failed, leave the machine as it was.
		if out, err := exec.Command("dpkg", "--purge", "enneo-edge").CombinedOutput(); err != nil {
			t.Errorf("cleanup: dpkg --purge: %v\n%s", err, out)
		}
		_ = os.RemoveAll("/var/lib/enneo-edge")
		_ = os.RemoveAll("/var/lib/private/enneo-edge")
	})
	dpkg := func(args ...string) string {
		t.Helper()
		c := exec.Command("dpkg", args...)
		c.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("dpkg %s:\n%s", strings.Join(args, " "), out)
		return string(out)
	}
	systemctl := true
	if _, err := exec.LookPath("systemctl"); err != nil {
		systemctl = false
	}

	// First install: files in place, enabled, not started.
	out := dpkg("-i", old)
	if !strings.Contains(out, "installed and enabled, not started") {
		t.Errorf("first install did not say it enabled the service:\n%s", out)
	}
	if v := cmd(t, binPath, "version"); !strings.HasPrefix(v, "enneo-edge 1.0.0 (") {
		t.Errorf("installed binary says %q", v)
	}
	for path := range installed {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}
	if st, err := os.Stat(configPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("config %s mode %v (%v), want 0600: it holds tokens", configPath, st.Mode(), err)
	}
	if _, err := os.Lstat(wantsLink); systemctl && err != nil {
		t.Errorf("not enabled: %v", err)
	}

	// The service ran: systemd made its state directory (DynamicUser=yes
	// keeps it in /var/lib/private) and the database is in it. The site
	// edited the config.
	if err := os.MkdirAll("/var/lib/private/enneo-edge", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("private/enneo-edge", "/var/lib/enneo-edge"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dbPath, []byte("the site's calls"), 0o600); err != nil {
		t.Fatal(err)
	}
	edited := readFile(t, configPath) + "\n# edited by the site\n"
	if err := os.WriteFile(configPath, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}

	// Upgrade: new binary, the edited config kept, the database untouched.
	out = dpkg("--force-confold", "-i", next)
	if v := cmd(t, binPath, "version"); !strings.HasPrefix(v, "enneo-edge 1.0.1 (") {
		t.Errorf("upgraded binary says %q", v)
	}
	if !strings.Contains(out, "restart enneo-edge yourself") {
		t.Errorf("upgrade without systemd did not say the service needs a restart:\n%s", out)
	}
	if got := readFile(t, configPath); got != edited {
		t.Error("the upgrade overwrote the edited config")
	}
	if got := readFile(t, dbPath); got != "the site's calls" {
		t.Errorf("database after upgrade: %q", got)
	}

	// Removal: program gone, config and database kept, service disabled.
	out = dpkg("-r", "enneo-edge")
	if _, err := os.Stat(binPath); err == nil {
		t.Error("dpkg -r left the binary")
	}
	if got := readFile(t, dbPath); got != "the site's calls" {
		t.Errorf("database after dpkg -r: %q", got)
	}
	if !strings.Contains(out, "kept the database in /var/lib/enneo-edge") {
		t.Errorf("dpkg -r did not say the database was kept:\n%s", out)
	}
	if _, err := os.Stat(configPath); err != nil {
		t.Errorf("dpkg -r removed the config: %v", err)
	}
	if _, err := os.Lstat(wantsLink); err == nil {
		t.Error("dpkg -r left the service enabled")
	}

	// Purge: now the database goes, and the script says so.
	out = dpkg("--purge", "enneo-edge")
	if !strings.Contains(out, "deleted the database") {
		t.Errorf("purge did not say it deleted the database:\n%s", out)
	}
	for _, p := range []string{"/var/lib/enneo-edge", "/var/lib/private/enneo-edge", configPath} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("purge left %s", p)
		}
	}
	if _, err := os.Stat(filepath.Dir(unitPath) + "/enneo-edge.service"); err == nil {
		t.Error("purge left the unit")
	}
}
