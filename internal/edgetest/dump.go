package edgetest

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// DumpFile lists every bucket, sequence and key of the bbolt file at path
// (read-only), sorted, leaving out meta's readiness probe, which every
// member writes locally: two files with the same dump hold the same state.
func DumpFile(t testing.TB, path string) string {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	var lines []string
	err = bdb.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bolt.Bucket) error {
			lines = append(lines, fmt.Sprintf("%s seq=%d", name, bk.Sequence()))
			return bk.ForEach(func(k, v []byte) error {
				if string(name) == "meta" && string(k) == "ready_probe" {
					return nil
				}
				lines = append(lines, fmt.Sprintf("%s %x=%x", name, k, v))
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
