package db

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/model"
)

// SourceCentral marks agents pulled from central enneo.
const SourceCentral = "central"

// Directory is what central said about the site's agents and phone lines
// in one pull.
type Directory struct {
	Agents []model.Agent
	Lines  []model.Line
}

// DirectoryState describes the last-known copy of central's directory.
type DirectoryState struct {
	PulledAt time.Time `json:"pulledAt"`
	Agents   int       `json:"agents"`
	Lines    int       `json:"lines"`
}

// ReplaceDirectory stores a pull from central as the last-known copy, in
// one transaction. Central wins for every agent it lists (an agent PUT by
// hand with the same ID takes central's name and skills); agents only PUT
// at the edge stay as they are. An agent central no longer lists is
// removed once offline, and kept until then. The phone lines are replaced
// whole. Nothing here touches a call: skills and line settings steer only
// offers and timers from now on, so a call ringing or talked on when the
// refresh lands goes on as it was.
func (s *Store) ReplaceDirectory(ctx context.Context, d Directory) (DirectoryState, error) {
	var st DirectoryState
	err := s.write(ctx, func(tx *bolt.Tx) error {
		f := s.newFlow(tx)
		st = DirectoryState{PulledAt: f.now, Agents: len(d.Agents), Lines: len(d.Lines)}
		listed := make(map[int64]bool, len(d.Agents))
		for _, a := range d.Agents {
			listed[a.ID] = true
			if err := f.pulledAgent(a); err != nil {
				return err
			}
		}
		if err := f.dropUnlisted(listed); err != nil {
			return err
		}
		lines := tx.Bucket(bucketLines)
		if err := clearBucket(lines); err != nil {
			return err
		}
		for _, l := range d.Lines {
			if err := putJSON(lines, u64(l.ID), l, fmt.Sprintf("line %d", l.ID)); err != nil {
				return err
			}
		}
		if err := putJSON(tx.Bucket(bucketMeta), metaDirectory, st, "directory state"); err != nil {
			return err
		}
		if _, err := f.dispatch(); err != nil {
			return err
		}
		return f.flush()
	})
	return st, err
}

// pulledAgent stores one agent as central lists them, writing only what
// changed so a refresh of an unchanged directory writes nothing but the
// state.
func (f *flow) pulledAgent(a model.Agent) error {
	a.Source, a.CreatedAt, a.UpdatedAt = SourceCentral, f.now, f.now
	if a.SkillTagIDs == nil {
		a.SkillTagIDs = []int64{}
	}
	old, err := getAgent(f.tx, a.ID)
	switch {
	case err == nil:
		if old.Source == SourceCentral && old.Name == a.Name && slices.Equal(old.SkillTagIDs, a.SkillTagIDs) &&
			bytes.Equal(old.RawData, a.RawData) {
			return nil
		}
		a.CreatedAt = old.CreatedAt
	case !isNotFound(err):
		return err
	}
	if err := putJSON(f.tx.Bucket(bucketAgents), u64(a.ID), &a, fmt.Sprintf("agent %d", a.ID)); err != nil {
		return err
	}
	if f.tx.Bucket(bucketAgentsOnline).Get(u64(a.ID)) != nil {
		return f.indexOnline(a.ID)
	}
	return nil
}

// dropUnlisted removes agents central listed before and does not now,
// once they are offline.
func (f *flow) dropUnlisted(listed map[int64]bool) error {
	b := f.tx.Bucket(bucketAgents)
	var gone [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if listed[fromU64(k)] {
			continue
		}
		var a model.Agent
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("decode agent %d: %w", fromU64(k), err)
		}
		if a.Source == SourceCentral && f.tx.Bucket(bucketAgentsOnline).Get(k) == nil {
			gone = append(gone, bytes.Clone(k))
		}
	}
	for _, k := range gone {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("delete agent %d: %w", fromU64(k), err)
		}
	}
	return nil
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
