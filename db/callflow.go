package db

import (
	"context"
	"time"

	"github.com/enneo-edge/enneo-edge/callflow"
	"github.com/enneo-edge/enneo-edge/model"
)

// SetRoutingStatus applies PATCH /profile/{id}/routingStatus in one
// transaction (callflow.Machine.SetRoutingStatus).
func (s *Store) SetRoutingStatus(ctx context.Context, userID int64, c model.RoutingStatusChange) (*model.Presence, error) {
	var out *model.Presence
	if s.repl != nil {
		err := s.submit(ctx, opSetRoutingStatus, routingStatusArgs{UserID: userID, Change: c}, &out)
		return out, err
	}
	err := s.apply(ctx, func(tx callflow.Tx, now time.Time) error {
		var err error
		out, err = s.flow.SetRoutingStatus(tx, now, userID, c)
		return err
	})
	return out, err
}

// AgentConnected applies agentConnected in one transaction
// (callflow.Machine.AgentConnected). It returns the ticket ID.
func (s *Store) AgentConnected(ctx context.Context, r model.AgentConnected) (int64, error) {
	var id int64
	if s.repl != nil {
		err := s.submit(ctx, opAgentConnected, r, &id)
		return id, err
	}
	err := s.apply(ctx, func(tx callflow.Tx, now time.Time) error {
		var err error
		id, err = s.flow.AgentConnected(tx, now, r)
		return err
	})
	return id, err
}

// CallCompleted applies callCompleted in one transaction
// (callflow.Machine.CallCompleted). It returns the ticket ID.
func (s *Store) CallCompleted(ctx context.Context, r model.CallCompleted) (int64, error) {
	var id int64
	if s.repl != nil {
		err := s.submit(ctx, opCallCompleted, r, &id)
		return id, err
	}
	err := s.apply(ctx, func(tx callflow.Tx, now time.Time) error {
		var err error
		id, err = s.flow.CallCompleted(tx, now, r)
		return err
	})
	return id, err
}
