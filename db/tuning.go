package db

import "github.com/enneo-edge/enneo-edge/db/engine"

// appendFill is how full bbolt fills a page when it splits one in the
// buckets whose keys only grow (tickets, queue entries and outbox records
// get increasing sequence numbers). bbolt's default of 50 % suits random
// inserts; for appends it leaves every page half empty forever, so each
// commit writes about twice the pages it needs and the file grows twice as
// fast (measured: 2.3–2.5× more leaf bytes allocated than used). 90 %, not
// 100 %, leaves room for the events later calls add to a ticket.
const appendFill = 0.9

// appendOnlyFill is what the engine sets on the buckets written in key
// order in every group-commit transaction (bbolt does not store it). The
// other bbolt settings (freelist synced, map freelist) are the engine's
// (engine/bolt.go).
var appendOnlyFill = []engine.BucketFill{
	{Name: bucketTickets, Percent: appendFill},
	{Name: bucketQueues, Percent: appendFill},
	{Name: bucketOutbox, Percent: appendFill},
}
