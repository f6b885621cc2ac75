package db

import (
	"fmt"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/model"
)

// EachTicket calls fn with every ticket in ID order (oldest first), all
// from one read transaction, so an export is one consistent state; an
// error from fn stops the walk and is returned.
func (s *Store) EachTicket(fn func(*model.Ticket) error) error {
	return s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketTickets).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			t := new(model.Ticket)
			if err := json.Unmarshal(v, t); err != nil {
				return fmt.Errorf("decode ticket %d: %w", fromU64(k), err)
			}
			if err := fn(t); err != nil {
				return err
			}
		}
		return nil
	})
}
