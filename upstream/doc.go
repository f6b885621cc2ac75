// Package upstream forwards the outbox to central enneo (or to another
// enneo-edge acting as hub).
//
// Records go in order per ticket (callReceived, then its follow-ups) and
// per user for presence, several tickets at a time. Every outcome is
// committed before the next record of the same ticket is looked at:
// delivered (the record goes, the central ticket ID is stored beside the
// local one, in one transaction), retried (network errors, timeouts, 408,
// 425, 429 and 5xx: forever, with capped jittered backoff, and one probe at
// a time while central looks down), dead-lettered (other 4xx, after a few
// tries) or paused (401/403: the whole queue waits, nothing is
// dead-lettered).
//
// Delivery is at least once. An answer lost on the way back (timeout,
// reset) leaves the record pending and it is sent again with the same
// channelId; central, or a hub, that answers a known channelId with its
// first ticket makes the whole path exactly once.
package upstream
