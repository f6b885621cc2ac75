package main

import (
	"runtime/debug"
	"strings"
)

// version and commit are set at build time with
// -ldflags "-X main.version=1.2.0 -X main.commit=$(git rev-parse HEAD)".
// Without them a `go install module@vX` build carries the module version,
// and a build in a git checkout the VCS revision Go stamps into it
// (-buildvcs, on by default unless GOFLAGS turns it off).
var (
	version = "dev"
	commit  = ""
)

// buildInfo returns the version and the commit the binary was built from.
// The commit from -ldflags wins over the VCS stamp: a release build names
// exactly what it was built from; "+dirty" marks a tree with changes.
func buildInfo() (ver, rev string) {
	ver, rev = version, commit
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ver, firstNonEmpty(rev, "unknown")
	}
	if ver == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		ver = strings.TrimPrefix(bi.Main.Version, "v")
	}
	var vcsRev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			vcsRev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" && vcsRev != "" {
		rev = vcsRev
		if modified == "true" {
			rev += "+dirty"
		}
	}
	return ver, firstNonEmpty(rev, "unknown")
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
