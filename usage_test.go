package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
)

// stderrOf runs fn with os.Stderr captured (the flag package prints its
// defaults there).
func stderrOf(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	fn()
	os.Stderr = saved
	_ = w.Close()
	return <-done
}

// The usage text (and so the README, see below) names exactly the flags
// each command accepts: the ones its -h lists.
func TestUsageNamesEveryFlag(t *testing.T) {
	commands := []struct {
		name string
		run  func([]string) error
	}{
		{"serve", runServe}, {"import", runImport}, {"check", runCheck},
		{"backup", runBackup}, {"outbox", runOutbox}, {"cluster", runCluster}, {"bench", runBench}, {"export", runExport},
	}
	defined := regexp.MustCompile(`(?m)^  -(\S+)`)
	documented := regexp.MustCompile(`[\[ ]-([a-z0-9-]+)[ \]]`)
	for _, c := range commands {
		var err error
		defaults := stderrOf(t, func() { err = c.run([]string{"-h"}) })
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%s -h: %v", c.name, err)
		}
		has := map[string]bool{}
		for _, f := range defined.FindAllStringSubmatch(defaults, -1) {
			has[f[1]] = true
		}
		if len(has) == 0 {
			t.Fatalf("%s -h listed no flags:\n%s", c.name, defaults)
		}
		text := usageOf(c.name)
		named := map[string]bool{}
		for _, f := range documented.FindAllStringSubmatch(text, -1) {
			named[f[1]] = true
		}
		for f := range has {
			if !named[f] {
				t.Errorf("usage of %s lacks -%s:\n%s", c.name, f, text)
			}
		}
		for f := range named {
			if !has[f] {
				t.Errorf("usage of %s names -%s, which it does not accept:\n%s", c.name, f, text)
			}
		}
	}
}

// The README's command list is the usage text.
func TestREADMECommandsAreTheUsage(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "## Commands\n\n```\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("README has no ## Commands code block")
	}
	var want strings.Builder
	for _, line := range strings.Split(usage, "\n") {
		if strings.HasPrefix(line, "  enneo-edge ") || strings.HasPrefix(line, "     ") {
			want.WriteString(strings.TrimPrefix(line, "  ") + "\n")
		}
	}
	if block != want.String() {
		t.Errorf("README's commands differ from main.go's usage:\nREADME:\n%s\nusage:\n%s", block, want.String())
	}
}
