package faultfs

import (
	"os"
	"testing"
)

// Require skips the test when this machine cannot mount FUSE, with the
// reason; in CI (CI=true) it fails instead, as CI installs fuse3 and runs
// as root.
func Require(t testing.TB) {
	t.Helper()
	if ok, why := Available(); !ok {
		if os.Getenv("CI") == "true" {
			t.Fatalf("FUSE unavailable in CI: %s", why)
		}
		t.Skip("FUSE unavailable (needs /dev/fuse and root or fusermount3: apt-get install fuse3): " + why)
	}
}
