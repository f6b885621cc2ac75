package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/callflow"
	"github.com/enneo-edge/enneo-edge/model"
)

// PutAgent creates or replaces an agent's name, skills and raw data in
// one transaction (callflow.Machine.PutAgent).
func (s *Store) PutAgent(ctx context.Context, a model.Agent) (model.Agent, error) {
	if s.repl != nil {
		var out model.Agent
		err := s.submit(ctx, opPutAgent, a, &out)
		return out, err
	}
	err := s.apply(ctx, func(tx callflow.Tx, now time.Time) error {
		var err error
		a, err = s.flow.PutAgent(tx, now, a)
		return err
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
