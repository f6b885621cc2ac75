package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// What the README and the unit cite is in the repository, and what the
// unit's Documentation= names is installed by the README's steps.
func TestDocsCiteOnlyWhatShips(t *testing.T) {
	cited := regexp.MustCompile("`((?:docs|systemd|bench|tests)/[A-Za-z0-9_./-]+\\.[a-z]+)`|(docs/[A-Za-z0-9_./-]+\\.md)")
	for _, file := range []string{"README.md", "systemd/enneo-edge.service", "config.example.toml", "BENCHMARKS.md"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "../shared") {
			t.Errorf("%s cites ../shared, which is not part of the repository", file)
		}
		for _, m := range cited.FindAllStringSubmatch(string(b), -1) {
			path := m[1] + m[2]
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s cites %s: %v", file, path, err)
			}
		}
	}
	unit, _ := os.ReadFile("systemd/enneo-edge.service")
	readme, _ := os.ReadFile("README.md")
	for _, m := range regexp.MustCompile(`(?m)^Documentation=file:///usr/share/doc/enneo-edge/(\S+)$`).FindAllStringSubmatch(string(unit), -1) {
		if !regexp.MustCompile(`install -D -m 0644 -t /usr/share/doc/enneo-edge .*\b` + regexp.QuoteMeta(m[1]) + `\b`).Match(readme) {
			t.Errorf("the unit's Documentation= names %s, which the README's install steps do not install", m[1])
		}
	}
}
