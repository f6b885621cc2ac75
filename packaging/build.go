package main

import (
	"embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the "deb" packager
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the "rpm" packager
)

// Installed paths. The unit's ExecStart and Documentation= name them, and
// the README's install section lists them.
const (
	binPath    = "/usr/bin/enneo-edge"
	unitPath   = "/usr/lib/systemd/system/enneo-edge.service"
	configPath = "/etc/enneo-edge/enneo-edge.toml"
	docDir     = "/usr/share/doc/enneo-edge"
	dbPath     = "/var/lib/enneo-edge/edge.db"
)

// scripts are the maintainer scripts, shared by both formats: each reads
// the deb and the rpm way of saying install, upgrade or removal.
//
//go:embed scripts/*.sh
var scripts embed.FS

// Params say what to build.
type Params struct {
	Root    string // the enneo-edge repository
	Out     string // where the packages go
	Version string // see Version
	Arch    string // GOARCH
}

// Formats are the package formats built, in order.
var Formats = []string{"deb", "rpm"}

// Build compiles a static enneo-edge with the version stamped in and
// writes one package per format into p.Out, returning their paths.
func Build(p Params) ([]string, error) {
	if !validVersion.MatchString(p.Version) {
		return nil, fmt.Errorf("version %q: want digits first, then letters, digits, '.', '+' or '~' (deb and rpm both accept these)", p.Version)
	}
	if err := os.MkdirAll(p.Out, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	stage, err := os.MkdirTemp("", "enneo-edge-pkg-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)

	bin := filepath.Join(stage, "enneo-edge")
	if err := buildBinary(p, bin); err != nil {
		return nil, err
	}
	unit, err := packagedUnit(filepath.Join(p.Root, "systemd", "enneo-edge.service"))
	if err != nil {
		return nil, err
	}
	conf, err := packagedConfig(filepath.Join(p.Root, "config.example.toml"))
	if err != nil {
		return nil, err
	}
	staged := map[string]string{"enneo-edge.service": unit, "enneo-edge.toml": conf}
	for _, name := range []string{"postinstall.sh", "preremove.sh", "postremove.sh"} {
		b, err := scripts.ReadFile("scripts/" + name)
		if err != nil {
			return nil, err
		}
		staged[name] = string(b)
	}
	for name, body := range staged {
		if err := os.WriteFile(filepath.Join(stage, name), []byte(body), 0o644); err != nil {
			return nil, err
		}
	}

	var built []string
	for _, format := range Formats {
		info := packageInfo(p, stage)
		path, err := write(info, format, p.Out)
		if err != nil {
			return nil, err
		}
		built = append(built, path)
	}
	return built, nil
}

var validVersion = regexp.MustCompile(`^[0-9][0-9A-Za-z.+~]*$`)

func buildBinary(p Params, bin string) error {
	// The commit too: -trimpath builds of an exported tree carry no VCS
	// stamp, and edge_build_info and `version` should name it.
	ldflags := "-s -w -X main.version=" + p.Version
	if c := headCommit(p.Root); c != "" {
		ldflags += " -X main.commit=" + c
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "-ldflags", ldflags, ".")
	cmd.Dir = p.Root
	// Static: the appliance runs on whatever glibc (or none) the site has.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+p.Arch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// packagedUnit is the repository's unit with the package's binary path:
// the README's manual install uses /usr/local/bin, a package owns /usr/bin.
func packagedUnit(src string) (string, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("unit: %w", err)
	}
	unit := string(b)
	for _, want := range []string{"ExecStart=/usr/local/bin/enneo-edge ", "Documentation=file://" + docDir + "/"} {
		if !strings.Contains(unit, want) {
			return "", fmt.Errorf("unit %s: no %q line to rewrite or keep", src, want)
		}
	}
	unit = strings.ReplaceAll(unit, "/usr/local/bin/enneo-edge", binPath)
	unit = strings.Replace(unit, "# Install: see README.md, \"Install with systemd\".",
		"# Installed by the enneo-edge package; see README.md, \"Install from a package\".", 1)
	return unit, nil
}

// packagedConfig is config.example.toml with the database in the unit's
// state directory (the example's relative default suits a checkout).
func packagedConfig(src string) (string, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	const from = "\npath = \"data/edge.db\"\n"
	if !strings.Contains(string(b), from) {
		return "", fmt.Errorf("config %s: no %q line for the packaged database path", src, strings.TrimSpace(from))
	}
	return strings.Replace(string(b), from, "\npath = \""+dbPath+"\"\n", 1), nil
}

func packageInfo(p Params, stage string) *nfpm.Info {
	doc := func(src, name string) *files.Content {
		return &files.Content{Source: filepath.Join(p.Root, src), Destination: docDir + "/" + name,
			FileInfo: &files.ContentFileInfo{Mode: 0o644}}
	}
	return nfpm.WithDefaults(&nfpm.Info{
		Name:          "enneo-edge",
		Arch:          p.Arch,
		Platform:      "linux",
		Version:       p.Version,
		VersionSchema: "none", // Version is already what deb and rpm compare
		Release:       "1",
		Section:       "net",
		Priority:      "optional",
		Maintainer:    "enneo-edge <edge@enneo.invalid>",
		Vendor:        "enneo-edge",
		Homepage:      "https://github.com/enneo-edge/enneo-edge",
		License:       "see /usr/share/doc/enneo-edge/copyright",
		Description: "enneo telephony API beside the PBX\n" +
			"Answers the PBX's enneo calls from a local database and forwards\n" +
			"them to central enneo when it is reachable.",
		// Reproducible: the same commit gives the same package.
		MTime: commitTime(p.Root),
		Overridables: nfpm.Overridables{
			Contents: files.Contents{
				{Source: filepath.Join(stage, "enneo-edge"), Destination: binPath, FileInfo: &files.ContentFileInfo{Mode: 0o755}},
				{Source: filepath.Join(stage, "enneo-edge.service"), Destination: unitPath, FileInfo: &files.ContentFileInfo{Mode: 0o644}},
				// config|noreplace: a deb conffile and an rpm
				// %config(noreplace): an upgrade never overwrites the
				// site's edits. Root-only, it holds API tokens.
				{Source: filepath.Join(stage, "enneo-edge.toml"), Destination: configPath, Type: files.TypeConfigNoReplace,
					FileInfo: &files.ContentFileInfo{Mode: 0o600}},
				doc("README.md", "README.md"),
				doc("LICENSE", "copyright"),
				doc("config.example.toml", "config.example.toml"),
				doc("contrib/grafana/enneo-edge.json", "grafana/enneo-edge.json"),
				doc("contrib/prometheus/alerts.yml", "prometheus/alerts.yml"),
			},
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(stage, "postinstall.sh"),
				PreRemove:   filepath.Join(stage, "preremove.sh"),
				PostRemove:  filepath.Join(stage, "postremove.sh"),
			},
			Deb: nfpm.Deb{Compression: "xz"},
			RPM: nfpm.RPM{Compression: "xz"},
		},
	})
}

func write(info *nfpm.Info, format, out string) (string, error) {
	pkgr, err := nfpm.Get(format)
	if err != nil {
		return "", err
	}
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return "", fmt.Errorf("%s: %w", format, err)
	}
	path := filepath.Join(out, pkgr.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := pkgr.Package(info, f); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return "", fmt.Errorf("%s: %w", format, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("%s: %w", format, err)
	}
	return path, nil
}

// Version is the version a build from root gets, for the package and for
// `enneo-edge version` alike: the tag (without its "v") on a tagged
// commit; otherwise the last tag (0.0.0 before the first) followed by
// "+git", the commit's UTC time and its short hash, so that later commits
// compare greater in dpkg and rpm; ".dirty" when the tree has changes.
func Version(root string) (string, error) {
	git := func(args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = root
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	sha, err := git("rev-parse", "--short=12", "HEAD")
	if err != nil {
		return "", fmt.Errorf("version: not a git checkout (pass -version): %w", err)
	}
	base := "0.0.0"
	exact := false
	if tag, err := git("describe", "--tags", "--abbrev=0", "--match", "v[0-9]*"); err == nil {
		base = strings.TrimPrefix(tag, "v")
		_, err := git("describe", "--tags", "--exact-match", "--match", "v[0-9]*")
		exact = err == nil
	}
	dirty := ""
	if st, err := git("status", "--porcelain", "--untracked-files=no"); err == nil && st != "" {
		dirty = ".dirty"
	}
	if exact && dirty == "" {
		return base, nil
	}
	when := commitTime(root).UTC().Format("20060102150405")
	return base + "+git" + when + "." + sha + dirty, nil
}

// headCommit is HEAD's full hash, "" outside a checkout.
func headCommit(root string) string {
	cmd := exec.Command("git", "rev-parse", "HEAD")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// commitTime is HEAD's commit time, or the zero time outside a checkout.
func commitTime(root string) time.Time {
	cmd := exec.Command("git", "log", "-1", "--format=%ct")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return time.Time{}
	}
	var sec int64
	if _, err := fmt.Sscan(string(out), &sec); err != nil {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}
