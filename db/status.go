package db

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/enneo-edge/enneo-edge/db/engine"
	"github.com/enneo-edge/enneo-edge/model"
)

// maxQueueScan bounds how many of the newest queue entries a status read
// decodes to count the declined ones: the status page says "declined of
// the last N calls queued", and must stay cheap on a large file.
const maxQueueScan = 1000

// QueueStatus counts the queue entries waiting for an agent.
type QueueStatus struct {
	// Waiting and OldestWaiting are exact: read from the queue rank and
	// the waiting index, not from a scan.
	Waiting       int        `json:"waiting"`
	OldestWaiting *time.Time `json:"oldestWaitingSince"`
	// Declined counts the declined entries (noAgentsOnline,
	// maxWaitExceeded) among the Scanned newest entries.
	Declined int `json:"declined"`
	// Scanned is how many of the newest entries were read.
	Scanned int `json:"scanned"`
	// Partial was true when Waiting came from a bounded scan; it is
	// always false now and kept for readers of the field.
	Partial bool `json:"partial"`
}

// Presences returns up to limit agents with their routing status, in user
// ID order.
func (s *Store) Presences(limit int) ([]model.Presence, error) {
	out := []model.Presence{}
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketPresence).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			var p model.Presence
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("decode presence of %d: %w", fromU64(k), err)
			}
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// WaitingQueue counts the entries waiting for an agent (the queue rank's
// total), finds the oldest (the first in the waiting index, the smallest
// queue ID, as the scan from the newest backwards found it) and counts
// the declined among the newest maxQueueScan entries. Its cost does not
// grow with the number of waiting calls or stored tickets.
func (s *Store) WaitingQueue() (QueueStatus, error) {
	var st QueueStatus
	err := s.view(func(tx *bolt.Tx) error {
		st.Waiting = rankTotal(tx)
		if k, v := tx.Bucket(bucketWaiting).Cursor().First(); k != nil && len(v) == 16 {
			at := time.Unix(0, fromU64(v[8:])).UTC()
			st.OldestWaiting = &at
		}
		c := tx.Bucket(bucketQueues).Cursor()
		for k, v := c.Last(); k != nil && st.Scanned < maxQueueScan; k, v = c.Prev() {
			var q struct {
				Status string `json:"status"`
			}
			if err := json.Unmarshal(v, &q); err != nil {
				return fmt.Errorf("decode queue entry %d: %w", fromU64(k), err)
			}
			st.Scanned++
			if q.Status == model.QueueDeclined {
				st.Declined++
			}
		}
		return nil
	})
	return st, err
}

// Footprint is what the database takes on disk and what is left there.
type Footprint struct {
	FileBytes int64 `json:"fileBytes"`
	// LogBytes is the write-ahead log's files (reserved at full size).
	LogBytes int64 `json:"logBytes"`
	// FreeBytes is what the file system has left for the service.
	FreeBytes int64 `json:"freeBytes"`
}

// Footprint stats the file, its log files and its file system.
func (s *Store) Footprint() (Footprint, error) {
	var f Footprint
	var err error
	if f.FileBytes, err = s.FileSize(); err != nil {
		return f, err
	}
	for _, p := range engine.LogPaths(s.path) {
		if st, err := os.Stat(p); err == nil {
			f.LogBytes += st.Size()
		}
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(s.path), &fs); err != nil {
		return f, fmt.Errorf("statfs %s: %w", filepath.Dir(s.path), err)
	}
	f.FreeBytes = int64(fs.Bavail) * fs.Bsize
	return f, nil
}

// FileSize is the database file's size on disk in bytes.
func (s *Store) FileSize() (int64, error) {
	st, err := os.Stat(s.path)
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", s.path, err)
	}
	return st.Size(), nil
}
