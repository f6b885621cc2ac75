package db

import bolt "go.etcd.io/bbolt"

// boltOptions are the bbolt settings, chosen by measurement (BENCHMARKS.md).
//
// The freelist is written at every commit (NoFreelistSync off). With it
// off, bbolt rebuilds the freelist at open by walking every page of the
// file: on a database with a million customers and a million tickets
// (4 GB) that took 1.9 s warm and 7.6 s cold, against a start-up budget of
// 500 ms; with the freelist synced, the same open takes well under a
// millisecond. The cost on the hot path is small because tickets are
// append-mostly, so the freelist stays a page or two, written in the same
// fdatasync as the commit's other pages. A file written with the old
// setting pays one scan at its first open, then is converted.
//
// The map freelist keeps allocation and release O(1) when many pages are
// free (after the outbox drains a long backlog).
func boltOptions(o Options) *bolt.Options {
	return &bolt.Options{
		Timeout:        o.OpenTimeout,
		NoFreelistSync: o.noFreelistSync,
		FreelistType:   bolt.FreelistMapType,
	}
}
