package db

import "encoding/binary"

// Bucket names. Every bucket is created at open so transactions never need
// to check for their existence.
var (
	bucketTickets          = []byte("tickets")
	bucketChannels         = []byte("channels") // channelId -> ticket ID
	bucketQueues           = []byte("queues")
	bucketPresence         = []byte("presence")
	bucketOutbox           = []byte("outbox")
	bucketCustomers        = []byte("customers")
	bucketCustomersByPhone = []byte("customers_by_phone")    // E.164 \x00 customer ID -> nil
	bucketCustomersByContr = []byte("customers_by_contract") // contract ID -> customer ID
	bucketMeta             = []byte("meta")
	bucketAgents           = []byte("agents")        // user ID -> model.Agent
	bucketWaiting          = []byte("queue_waiting") // queue ID -> tag, createdAt (waitingForAgent entries)
	bucketAgentsIdle       = []byte("agents_idle")   // idle since, user ID -> nil (routable agents)
	bucketAgentsOnline     = []byte("agents_online") // user ID -> skill tag IDs (call status not offline)
	bucketOutboxKeys       = []byte("outbox_keys")   // order key + seq -> nil (see forward.go)
	bucketOutboxTries      = []byte("outbox_tries")  // seq -> failed attempts of a pending record
	bucketDeadLetters      = []byte("dead_letters")  // order key + seq -> DeadLetter
	bucketSynced           = []byte("synced")        // syncedAt + ticket ID -> nil, for retention
	bucketLines            = []byte("lines")         // subchannel ID -> model.Line (pulled from central)

	allBuckets = [][]byte{bucketTickets, bucketChannels, bucketQueues, bucketPresence, bucketOutbox,
		bucketCustomers, bucketCustomersByPhone, bucketCustomersByContr, bucketMeta,
		bucketAgents, bucketWaiting, bucketAgentsIdle, bucketAgentsOnline,
		bucketOutboxKeys, bucketOutboxTries, bucketDeadLetters, bucketSynced, bucketLines}
)

// Keys in the meta bucket.
var (
	metaAPIToken        = []byte("api_token")
	metaOutboxPending   = []byte("outbox_pending")
	metaReadyProbe      = []byte("ready_probe")
	metaHandleTimes     = []byte("handle_times")      // recent handling times for wait estimates
	metaOutboxDead      = []byte("outbox_dead")       // dead letter count
	metaOutboxPaused    = []byte("outbox_paused")     // PauseState JSON while central refuses our token
	metaOutboxSendLease = []byte("outbox_send_lease") // highest seq the forwarder may have sent
	metaDirectory       = []byte("directory")         // DirectoryState JSON: the last pull from central
	metaTickets         = []byte("tickets_count")     // tickets stored (see counts.go)
	metaCustomers       = []byte("customers_count")   // customers in the directory
	metaTicketsExact    = []byte("tickets_count_exact")
	metaCustomersExact  = []byte("customers_count_exact")
	metaApplied         = []byte("raft_applied") // cluster: index of the last log entry applied (apply.go)
)

func u64(v int64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(v))
	return k[:]
}

func fromU64(b []byte) int64 { return int64(binary.BigEndian.Uint64(b)) }
