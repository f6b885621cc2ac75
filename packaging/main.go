// Command packaging builds the enneo-edge .deb and .rpm with nfpm:
//
//	go -C packaging run . [-out dist] [-version V] [-arch amd64]
//
// It is its own module so that nfpm and its dependencies stay out of the
// appliance's go.mod: the binary a site runs links none of them.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

func main() {
	out := flag.String("out", "", "directory for the packages (default: <repo>/dist)")
	version := flag.String("version", "", "package and binary version (default: from git, see Version)")
	arch := flag.String("arch", runtime.GOARCH, "GOARCH to build for")
	root := flag.String("root", "..", "the enneo-edge repository")
	flag.Parse()

	if err := run(*root, *out, *version, *arch); err != nil {
		fmt.Fprintln(os.Stderr, "packaging:", err)
		os.Exit(1)
	}
}

func run(root, out, version, arch string) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	if out == "" {
		out = filepath.Join(root, "dist")
	}
	if version == "" {
		if version, err = Version(root); err != nil {
			return err
		}
	}
	built, err := Build(Params{Root: root, Out: out, Version: version, Arch: arch})
	if err != nil {
		return err
	}
	for _, p := range built {
		fmt.Println(p)
	}
	return nil
}
