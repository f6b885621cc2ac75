package cluster

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
)

// logStore is raft's log and stable store in one.
type logStore interface {
	raft.LogStore
	raft.StableStore
	Close() error
}

// openLogStore opens raft's log and stable store in dir/wal: hashicorp's
// raft-wal (Consul's log store), which appends a batch of entries to a
// preallocated segment file with one fsync. raft-boltdb, used before it,
// commits a bbolt transaction per append: two fdatasyncs and scattered
// page writes, on the leader and again on each follower, in series on
// every write's path (BENCHMARKS.md, "Cluster: where the time goes").
// The term and vote live in the WAL's small bbolt meta file, written only
// at elections and segment rotations.
func openLogStore(dir string, log hclog.Logger) (logStore, error) {
	d := filepath.Join(dir, "wal")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: raft log directory: %w", err)
	}
	w, err := wal.Open(d, wal.WithLogger(log.Named("wal")))
	if err != nil {
		return nil, fmt.Errorf("cluster: raft log %s: %w", d, err)
	}
	return w, nil
}
