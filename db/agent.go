package db

import (
	"context"
	"errors"
	"fmt"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/model"
)

// PutAgent creates or replaces an agent's name, skills and raw data. New
// skills take effect at once: a logged-in agent's routing index is
// rewritten and waiting calls are offered again.
func (s *Store) PutAgent(ctx context.Context, a model.Agent) (model.Agent, error) {
	err := s.write(ctx, func(tx *bolt.Tx) error {
		f := s.newFlow(tx)
		a.CreatedAt, a.UpdatedAt = f.now, f.now
		if old, err := getAgent(tx, a.ID); err == nil {
			a.CreatedAt = old.CreatedAt
		} else if !isNotFound(err) {
			return err
		}
		if err := putJSON(tx.Bucket(bucketAgents), u64(a.ID), &a, fmt.Sprintf("agent %d", a.ID)); err != nil {
			return err
		}
		if tx.Bucket(bucketAgentsOnline).Get(u64(a.ID)) != nil {
			if err := f.indexOnline(a.ID); err != nil {
				return err
			}
		}
		if _, err := f.dispatch(); err != nil {
			return err
		}
		return f.flush()
	})
	return a, err
}

// Agents lists the configured agents with their presence, by ID.
func (s *Store) Agents() ([]model.AgentView, error) {
	out := []model.AgentView{}
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAgents).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var a model.Agent
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("decode agent %d: %w", fromU64(k), err)
			}
			p, err := getPresence(tx, a.ID)
			if err != nil {
				return err
			}
			out = append(out, model.AgentView{Agent: a, Presence: p})
		}
		return nil
	})
	return out, err
}

func getAgent(tx *bolt.Tx, id int64) (*model.Agent, error) {
	v := tx.Bucket(bucketAgents).Get(u64(id))
	if v == nil {
		return nil, fmt.Errorf("agent %d: %w", id, ErrNotFound)
	}
	a := new(model.Agent)
	if err := json.Unmarshal(v, a); err != nil {
		return nil, fmt.Errorf("decode agent %d: %w", id, err)
	}
	return a, nil
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
