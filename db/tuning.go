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
		MaxSize:        int(o.MaxSize),
		ReadOnly:       o.ReadOnly,
		OpenFile:       o.OpenFile,
		NoFreelistSync: o.noFreelistSync,
		FreelistType:   bolt.FreelistMapType,
	}
}

// appendFill is how full bbolt fills a page when it splits one in the
// buckets whose keys only grow (tickets, queue entries and outbox records
// get increasing sequence numbers). bbolt's default of 50 % suits random
// inserts; for appends it leaves every page half empty forever, so each
// commit writes about twice the pages it needs and the file grows twice as
// fast (measured: 2.3–2.5× more leaf bytes allocated than used). 90 %, not
// 100 %, leaves room for the events later calls add to a ticket.
const appendFill = 0.9

// appendOnlyBuckets are the buckets written in key order.
var appendOnlyBuckets = [][]byte{bucketTickets, bucketQueues, bucketOutbox}

// fillAppendOnly sets the fill of the append-only buckets for this write
// transaction (bbolt does not store it).
func (s *Store) fillAppendOnly(tx *bolt.Tx) {
	if s.defaultFill {
		return
	}
	for _, name := range appendOnlyBuckets {
		tx.Bucket(name).FillPercent = appendFill
	}
}
