package main

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// maxExposure is the highest systemd-analyze security score the unit may
// have (lower is safer; a bare unit scores 9.6).
const maxExposure = 1.5

// TestUnitSandboxScore scores systemd/enneo-edge.service with
// systemd-analyze where it is installed (CI installs systemd).
func TestUnitSandboxScore(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd); the unit's score is not checked")
	}
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", "systemd/enneo-edge.service").CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for enneo-edge\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no score in:\n%s", out)
	}
	score, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("systemd-analyze security score: %.1f", score)
	if score > maxExposure {
		t.Errorf("unit exposure %.1f, want at most %.1f:\n%s", score, maxExposure, out)
	}
}

// TestUnitIsNotifyWithWatchdog keeps the unit and the code in step: the
// binary sends READY and watchdog pings, so the unit must ask for them.
func TestUnitIsNotifyWithWatchdog(t *testing.T) {
	b, err := os.ReadFile("systemd/enneo-edge.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "NotifyAccess=main", "WatchdogSec=", "StateDirectory=enneo-edge",
		"DynamicUser=yes", "Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID"} {
		if !strings.Contains(string(b), "\n"+want) {
			t.Errorf("unit lacks %s", want)
		}
	}
}
