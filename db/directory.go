package db

import (
	"bytes"
	"context"
	"fmt"
	"time"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/callflow"
	"github.com/enneo-edge/enneo-edge/model"
)

// SourceCentral marks agents pulled from central enneo.
const SourceCentral = callflow.SourceCentral

// Directory is what central said about the site's agents and phone lines
// in one pull (callflow.Directory).
type Directory = callflow.Directory

// DirectoryState describes the last-known copy of central's directory.
type DirectoryState = callflow.DirectoryState

// ReplaceDirectory stores a pull from central as the last-known copy, in
// one transaction (callflow.Machine.ReplaceDirectory).
func (s *Store) ReplaceDirectory(ctx context.Context, d Directory) (DirectoryState, error) {
	var st DirectoryState
	if s.repl != nil {
		err := s.submit(ctx, opReplaceDirectory, d, &st)
		return st, err
	}
	err := s.apply(ctx, func(tx callflow.Tx, now time.Time) error {
		var err error
		st, err = s.flow.ReplaceDirectory(tx, now, d)
		return err
	})
	return st, err
}

func clearBucket(b *bolt.Bucket) error {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("clear bucket: %w", err)
		}
	}
	return nil
}

// DirectoryState returns when central's directory was last pulled; a zero
// PulledAt means never.
func (s *Store) DirectoryState() (DirectoryState, error) {
	var st DirectoryState
	err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(metaDirectory); v != nil {
			return json.Unmarshal(v, &st)
		}
		return nil
	})
	return st, err
}

// Lines lists the phone lines pulled from central, by ID.
func (s *Store) Lines() ([]model.Line, error) {
	out := []model.Line{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLines).ForEach(func(k, v []byte) error {
			var l model.Line
			if err := json.Unmarshal(v, &l); err != nil {
				return fmt.Errorf("decode line %d: %w", fromU64(k), err)
			}
			out = append(out, l)
			return nil
		})
	})
	return out, err
}

// lineOf returns the pulled settings of phone line id, nil when central
// named none.
func lineOf(tx *bolt.Tx, id int64) (*model.Line, error) {
	if id == 0 {
		return nil, nil
	}
	v := tx.Bucket(bucketLines).Get(u64(id))
	if v == nil {
		return nil, nil
	}
	l := new(model.Line)
	if err := json.Unmarshal(v, l); err != nil {
		return nil, fmt.Errorf("decode line %d: %w", id, err)
	}
	return l, nil
}
