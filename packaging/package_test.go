package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// inCI is true in .ci/run, where the package tools are installed and a
// missing one is a failure rather than a skip.
var inCI = os.Getenv("CI") == "true"

// tool returns the path of a command or skips (fails in CI) without it.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if inCI {
			t.Fatalf("%s not installed in CI (apt-get install %s)", name, pkg)
		}
		t.Skipf("%s not installed (apt-get install %s)", name, pkg)
	}
	return p
}

func cmd(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// build makes both packages at version v into a temporary directory.
func build(t *testing.T, v string) (deb, rpm string) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	built, err := Build(Params{Root: root, Out: t.TempDir(), Version: v, Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	if len(built) != 2 || !strings.HasSuffix(built[0], ".deb") || !strings.HasSuffix(built[1], ".rpm") {
		t.Fatalf("built %v, want a .deb and an .rpm", built)
	}
	for _, p := range built {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes", filepath.Base(p), st.Size())
	}
	return built[0], built[1]
}

// installed are the package's files with the mode each must have.
var installed = map[string]string{
	binPath:                             "-rwxr-xr-x",
	unitPath:                            "-rw-r--r--",
	configPath:                          "-rw-------",
	docDir + "/README.md":               "-rw-r--r--",
	docDir + "/copyright":               "-rw-r--r--",
	docDir + "/config.example.toml":     "-rw-r--r--",
	docDir + "/grafana/enneo-edge.json": "-rw-r--r--",
	docDir + "/prometheus/alerts.yml":   "-rw-r--r--",
}

func TestDebContents(t *testing.T) {
	tool(t, "dpkg-deb", "dpkg")
	deb, _ := build(t, "1.2.3")

	listing := cmd(t, "dpkg-deb", "-c", deb)
	for path, mode := range installed {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(mode) + ` root/root .* \.` + regexp.QuoteMeta(path) + `$`)
		if !re.MatchString(listing) {
			t.Errorf("dpkg-deb -c: no %s %s in\n%s", mode, path, listing)
		}
	}
	if strings.Contains(listing, "/var/lib/enneo-edge") {
		t.Errorf("the package owns /var/lib/enneo-edge, so removing it would touch the database:\n%s", listing)
	}

	info := cmd(t, "dpkg-deb", "-I", deb)
	for _, want := range []string{"conffiles", "postinst", "prerm", "postrm", "Package: enneo-edge", "Version: 1.2.3-1", "Architecture: amd64"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb -I lacks %q:\n%s", want, info)
		}
	}
	ctl := t.TempDir()
	cmd(t, "dpkg-deb", "-e", deb, ctl)
	conffiles, err := os.ReadFile(filepath.Join(ctl, "conffiles"))
	if err != nil || strings.TrimSpace(string(conffiles)) != configPath {
		t.Errorf("conffiles = %q (%v), want just %s", conffiles, err, configPath)
	}
	for name, src := range map[string]string{"postinst": "postinstall.sh", "prerm": "preremove.sh", "postrm": "postremove.sh"} {
		got, err := os.ReadFile(filepath.Join(ctl, name))
		want, _ := os.ReadFile(filepath.Join("scripts", src))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s is not scripts/%s (%v)", name, src, err)
		}
	}

	// The files themselves: the unit starts the packaged binary and
	// points at the packaged docs, the config keeps the database in the
	// state directory, and the binary reports the package's version.
	fs := t.TempDir()
	cmd(t, "dpkg-deb", "-x", deb, fs)
	unit := readFile(t, filepath.Join(fs, unitPath))
	for _, want := range []string{"\nExecStart=" + binPath + " serve ", "\nDocumentation=file://" + docDir + "/README.md\n", "\nStateDirectory=enneo-edge\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("packaged unit lacks %q", strings.TrimSpace(want))
		}
	}
	if strings.Contains(unit, "/usr/local/bin") {
		t.Error("packaged unit still names /usr/local/bin")
	}
	if conf := readFile(t, filepath.Join(fs, configPath)); !strings.Contains(conf, "\npath = \""+dbPath+"\"\n") {
		t.Errorf("packaged config does not put the database at %s", dbPath)
	}
	if v := cmd(t, filepath.Join(fs, binPath), "version"); !strings.HasPrefix(v, "enneo-edge 1.2.3 (commit ") || strings.Contains(v, "commit unknown") {
		t.Errorf("packaged binary says %q, want enneo-edge 1.2.3 with its commit", v)
	}
	if out, err := exec.Command("file", filepath.Join(fs, binPath)).Output(); err == nil && !strings.Contains(string(out), "statically linked") {
		t.Errorf("binary is not static: %s", out)
	}
}

func TestRPMContents(t *testing.T) {
	tool(t, "rpm", "rpm")
	_, rpm := build(t, "1.2.3")
	list := cmd(t, "rpm", "-qlp", rpm)
	for path := range installed {
		if !strings.Contains("\n"+list, "\n"+path+"\n") {
			t.Errorf("rpm -qlp: no %s in\n%s", path, list)
		}
	}
	if cf := strings.TrimSpace(cmd(t, "rpm", "-qp", "--configfiles", rpm)); cf != configPath {
		t.Errorf("rpm config files = %q, want %s", cf, configPath)
	}
	// %config(noreplace): an upgrade leaves an edited config alone.
	if q := cmd(t, "rpm", "-qp", "--queryformat", "[%{FILENAMES} %{FILEFLAGS:fflags}\n]", rpm); !strings.Contains(q, configPath+" cn") {
		t.Errorf("%s is not %%config(noreplace):\n%s", configPath, q)
	}
	scripts := cmd(t, "rpm", "-qp", "--scripts", rpm)
	for _, want := range []string{"postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet", "systemctl try-restart enneo-edge.service"} {
		if !strings.Contains(scripts, want) {
			t.Errorf("rpm scripts lack %q:\n%s", want, scripts)
		}
	}
	if v := cmd(t, "rpm", "-qp", "--queryformat", "%{VERSION}-%{RELEASE} %{ARCH}", rpm); v != "1.2.3-1 x86_64" {
		t.Errorf("rpm version = %q", v)
	}
}

func TestVersionFromGit(t *testing.T) {
	tool(t, "git", "git")
	v, err := Version("..")
	if err != nil {
		t.Fatal(err)
	}
	sha := strings.TrimSpace(cmd(t, "git", "rev-parse", "--short=12", "HEAD"))
	if !validVersion.MatchString(v) || !strings.Contains(v, sha) && !regexp.MustCompile(`^[0-9.]+$`).MatchString(v) {
		t.Errorf("Version = %q: want the tag or ...+git<time>.%s", v, sha)
	}
	if _, err := Build(Params{Root: "..", Out: t.TempDir(), Version: "v1.0", Arch: "amd64"}); err == nil {
		t.Error("a version starting with a letter was accepted: dpkg refuses it")
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
