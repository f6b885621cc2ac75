package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// setMetaVersion rewrites the format version of both meta pages of the
// file at path and reseals their checksums, as a bbolt with another layout
// would have written them.
func setMetaVersion(t *testing.T, path string, version uint32) {
	t.Helper()
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := int(binary.LittleEndian.Uint32(img[metaOffset+8:]))
	for _, at := range []int{metaOffset, ps + metaOffset} {
		m := img[at:]
		if _, err := parseMeta(img[at-metaOffset:]); err != nil {
			t.Fatalf("meta page at %d before the change: %v", at, err)
		}
		binary.LittleEndian.PutUint32(m[4:], version)
		h := fnv.New64a()
		_, _ = h.Write(m[:metaChecksumAt])
		binary.LittleEndian.PutUint64(m[metaChecksumAt:], h.Sum64())
	}
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestFormatVersionChecked: a file whose meta pages carry a bbolt format
// version other than the one walpage.go knows is refused by Open (read-write
// and read-only) and by RecoverWAL with ErrFormat, and nothing is written
// to it or to its log; the file of the known version opens.
func TestFormatVersionChecked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	e, stop := startEngine(t, path, Options{})
	for i := range 20 {
		if _, err := put(context.Background(), e, fmt.Sprint("v", i), 300); err != nil {
			t.Fatal(err)
		}
	}
	// Keep a log to replay, as a crash leaves it: the check must come
	// before the replay writes into the file.
	logs := walPaths(path)
	var saved [2][]byte
	for i, p := range logs {
		var err error
		if saved[i], err = os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for i, p := range logs {
		if err := os.WriteFile(p, saved[i], 0o600); err != nil {
			t.Fatal(err)
		}
	}

	setMetaVersion(t, path, boltVersion)
	if _, ok, err := findLog(logs, 4096); err != nil || !ok {
		t.Fatalf("the test needs a log to replay: %v %v", ok, err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, version := range []uint32{boltVersion + 1, 1} {
		setMetaVersion(t, path, version)
		img, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("format version %d, this build knows version %d", version, boltVersion)
		for _, ro := range []bool{false, true} {
			_, err := openEngine(path, Options{ReadOnly: ro})
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), want) {
				t.Fatalf("version %d, read-only %v: Open said %v, want ErrFormat naming the versions", version, ro, err)
			}
		}
		if _, err := RecoverWAL(path); !errors.Is(err, ErrFormat) {
			t.Fatalf("version %d: RecoverWAL said %v, want ErrFormat", version, err)
		}
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(img, after) {
			t.Fatalf("version %d: the refused file was written to", version)
		}
		if _, ok, err := findLog(logs, 4096); err != nil || !ok {
			t.Fatalf("version %d: the refused file's log was cleared: %v %v", version, ok, err)
		}
	}

	// Back at the known version the same file and log replay and open.
	setMetaVersion(t, path, boltVersion)
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("resealing the known version changed the file: the test's page surgery is wrong")
	}
	if n, err := RecoverWAL(path); err != nil || n == 0 {
		t.Fatalf("replay at the known version: %d %v", n, err)
	}
	r, err := openEngine(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if name, err := get(r, 20); err != nil || name != "v19" {
		t.Fatalf("last record after the replay: %q %v", name, err)
	}
}
