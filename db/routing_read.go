package db

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/model"
	"github.com/enneo-edge/enneo-edge/routing"
)

// RoutingQuery names the queue entry getRouting asks for: by ticket,
// queue entry or channelId (older clients use the last two). The first
// non-zero field wins in that order.
type RoutingQuery struct {
	TicketID  int64
	QueueID   int64
	ChannelID string
}

// Routing answers getRouting from committed state: the queue entry with
// its position, the logged-in agents with matching skills and the
// estimated wait. It never writes, so polls do not touch the group commit.
func (s *Store) Routing(rq RoutingQuery) (*model.RoutingAnswer, error) {
	if err := s.linearize(); err != nil {
		return nil, err
	}
	var ans *model.RoutingAnswer
	err := s.view(func(tx *bolt.Tx) error {
		q, err := queueFor(tx, rq)
		if err != nil {
			return err
		}
		ans = routingAnswer(q)
		if q.AssignedUserID != 0 {
			if a, err := getAgent(tx, q.AssignedUserID); err == nil && len(a.RawData) > 0 {
				ans.AssignedUserRawData = a.RawData
			}
		}
		// Polls are the hottest read: walk the indexes in place rather than
		// decoding them (same rules as routing.OnlineServing and Position).
		matching := onlineServing(tx, q.PrimaryTagID)
		ans.PositionDetails.AgentsOnlineWithMatchingSkill = matching
		if q.Status == model.QueueWaitingForAgent {
			pos := position(tx, q)
			ans.PositionDetails.Position = pos
			ans.PositionDetails.EstimatedWaitingTimeInSeconds = routing.EstimatedWait(pos, len(matching),
				routing.AverageHandle(handleTimes(tx), s.flow.Routing().DefaultHandleTime))
		}
		return nil
	})
	return ans, err
}

func queueFor(tx *bolt.Tx, rq RoutingQuery) (*model.QueueEntry, error) {
	if rq.QueueID == 0 {
		ticketID := rq.TicketID
		if ticketID == 0 {
			v := tx.Bucket(bucketChannels).Get([]byte(rq.ChannelID))
			if v == nil {
				return nil, fmt.Errorf("channelId %q: %w", rq.ChannelID, ErrNotFound)
			}
			ticketID = fromU64(v)
		}
		v := tx.Bucket(bucketTickets).Get(u64(ticketID))
		if v == nil {
			return nil, fmt.Errorf("ticket %d: %w", ticketID, ErrNotFound)
		}
		// Only the queue ID is needed: the rest of a ticket (its
		// transcript) is skipped, not decoded.
		var tq struct {
			QueueID int64 `json:"queueId"`
		}
		if err := json.Unmarshal(v, &tq); err != nil {
			return nil, fmt.Errorf("decode ticket %d: %w", ticketID, err)
		}
		if tq.QueueID == 0 {
			return nil, fmt.Errorf("ticket %d has no queue entry (only routing=native and outbound calls get one): %w", ticketID, ErrNotFound)
		}
		rq.QueueID = tq.QueueID
	}
	return getQueueEntry(tx, rq.QueueID)
}

func routingAnswer(q *model.QueueEntry) *model.RoutingAnswer {
	a := &model.RoutingAnswer{
		ID: q.ID, TicketID: q.TicketID, Status: q.Status, Channel: q.Channel,
		PrimaryTagID: nonZero(q.PrimaryTagID), SubchannelID: nonZero(q.SubchannelID),
		AssignedUserID: nonZero(q.AssignedUserID), AssignedUserRawData: json.RawMessage("null"),
		CreatedAt: model.QueueTime(&q.CreatedAt), RoutedAt: model.QueueTime(q.RoutedAt),
		CompletedAt: model.QueueTime(q.CompletedAt), UpdatedAt: model.QueueTime(&q.UpdatedAt),
		PositionDetails: model.PositionDetails{AgentsOnlineWithMatchingSkill: []int64{}},
	}
	if q.DeclineReasonCode != "" {
		a.DeclineReasonCode, a.DeclineReasonMessage = &q.DeclineReasonCode, &q.DeclineReasonMessage
	}
	return a
}

func nonZero(v int64) *int64 {
	if v == 0 {
		return nil
	}
	return &v
}

// Availability is one agent's line in routingAvailability.
type Availability struct {
	UserID                 int64   `json:"userId"`
	Name                   string  `json:"name,omitempty"`
	CallRoutingStatus      string  `json:"callRoutingStatus"`
	ChatRoutingStatus      string  `json:"chatRoutingStatus"`
	CallRoutingStatusSince *string `json:"callRoutingStatusSince"`
	SkillTagIDs            []int64 `json:"skillTagIds"`
	// CurrentTicketIDs is the call the agent talks on or wraps up;
	// QueuedTicketIDs the call ringing for them.
	CurrentTicketIDs []int64 `json:"currentTicketIds"`
	QueuedTicketIDs  []int64 `json:"queuedTicketIds"`
}

// RoutingAvailability lists every agent the edge knows (configured, or
// seen through presence) with statuses, skills and tickets; userID != 0
// narrows it to one (ErrNotFound when unknown).
func (s *Store) RoutingAvailability(userID int64) ([]Availability, error) {
	if err := s.linearize(); err != nil {
		return nil, err
	}
	out := []Availability{}
	err := s.view(func(tx *bolt.Tx) error {
		seen := map[int64]bool{}
		add := func(p *model.Presence) error {
			if seen[p.UserID] || (userID != 0 && p.UserID != userID) {
				return nil
			}
			seen[p.UserID] = true
			av := Availability{UserID: p.UserID, CallRoutingStatus: p.CallRoutingStatus, ChatRoutingStatus: p.ChatRoutingStatus,
				SkillTagIDs: []int64{}, CurrentTicketIDs: []int64{}, QueuedTicketIDs: []int64{}}
			if !p.CallStatusSince.IsZero() {
				av.CallRoutingStatusSince = model.QueueTime(&p.CallStatusSince)
			}
			if a, err := getAgent(tx, p.UserID); err == nil {
				av.Name, av.SkillTagIDs = a.Name, a.SkillTagIDs
			} else if !isNotFound(err) {
				return err
			}
			switch {
			case p.CurrentTicketID == 0:
			case p.CallRoutingStatus == model.PresenceBeingConnected:
				av.QueuedTicketIDs = append(av.QueuedTicketIDs, p.CurrentTicketID)
			default:
				av.CurrentTicketIDs = append(av.CurrentTicketIDs, p.CurrentTicketID)
			}
			out = append(out, av)
			return nil
		}
		if err := eachPresence(tx, add); err != nil {
			return err
		}
		c := tx.Bucket(bucketAgents).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			p, err := getPresence(tx, fromU64(k))
			if err != nil {
				return err
			}
			if err := add(p); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && userID != 0 && len(out) == 0 {
		return nil, fmt.Errorf("user %d: %w", userID, ErrNotFound)
	}
	slices.SortFunc(out, func(a, b Availability) int { return cmp.Compare(a.UserID, b.UserID) })
	return out, err
}

// onlineServing lists the logged-in agents with skill tag, by ID (the
// online index is keyed by ID).
func onlineServing(tx *bolt.Tx, tag int64) []int64 {
	ids := []int64{}
	c := tx.Bucket(bucketAgentsOnline).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if rawServes(v, tag) {
			ids = append(ids, fromU64(k))
		}
	}
	return ids
}

// rawServes is routing.Agent.Serves on the online index's encoded skills.
func rawServes(skills []byte, tag int64) bool {
	if tag == 0 {
		return true
	}
	for i := 0; i+8 <= len(skills); i += 8 {
		if int64(binary.BigEndian.Uint64(skills[i:])) == tag {
			return true
		}
	}
	return false
}

// position counts the earlier waiting calls that compete with q; the
// waiting index is keyed by queue ID, so the walk stops at q.
func position(tx *bolt.Tx, q *model.QueueEntry) int {
	n := 0
	stop := u64(q.ID)
	c := tx.Bucket(bucketWaiting).Cursor()
	for k, v := c.First(); k != nil && bytes.Compare(k, stop) < 0; k, v = c.Next() {
		if routing.Competes(int64(binary.BigEndian.Uint64(v)), q.PrimaryTagID) {
			n++
		}
	}
	return n
}
