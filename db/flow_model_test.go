package db

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/clock"
	"github.com/enneo-edge/enneo-edge/model"
	"github.com/enneo-edge/enneo-edge/routing"
)

var modelRouting = routing.Config{RingTimeout: 20 * time.Second, MaxWait: 5 * time.Minute, ACW: 30 * time.Second,
	DefaultHandleTime: time.Minute, SubchannelTags: map[int64]int64{1: 1, 2: 2}}

// running is a store with its commit loop; stop closes both.
type running struct {
	*Store
	stop func()
}

func openRunning(t *testing.T, path string, clk *clock.Manual) running {
	t.Helper()
	s, stop := startStore(t, path, Options{SiteID: 3, Clock: clk, Routing: modelRouting})
	return running{s, func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}}
}

// TestRoutingModel drives the real store with random sequences of calls,
// presence changes, answers, hang-ups, timer ticks and restarts, and checks
// after every step that no agent holds two calls, no waiting call is lost
// from the routing index, no waiting call has a free agent who could take
// it, and the distributor kept arrival order among calls of one skill.
func TestRoutingModel(t *testing.T) {
	seeds, steps := 6, 250
	if testing.Short() {
		seeds = 3
	}
	seen := map[string]int{} // status transitions observed, over all seeds
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			runModel(t, uint64(seed), steps, seen)
		})
	}
	// The sequences must have exercised the interesting transitions, or
	// the invariants proved little.
	for _, tr := range []string{">waitingForAgent", "waitingForAgent>assigned", "assigned>currentlyProcessed",
		"assigned>waitingForAgent", "currentlyProcessed>completed", "waitingForAgent>completed", ">declined"} {
		if seen[tr] == 0 {
			t.Errorf("never saw %s (seen: %v)", tr, seen)
		}
	}
}

func runModel(t *testing.T, seed uint64, steps int, seen map[string]int) {
	rng := rand.New(rand.NewPCG(seed, 99))
	clk := clock.NewManual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "edge.db")
	s := openRunning(t, path, clk)
	defer func() { s.stop() }()
	ctx := context.Background()
	const agents = 5
	for id := int64(1); id <= agents; id++ {
		a := model.Agent{ID: id, SkillTagIDs: []int64{}}
		for tag := int64(1); tag <= 2; tag++ {
			if rng.IntN(2) == 0 {
				a.SkillTagIDs = append(a.SkillTagIDs, tag)
			}
		}
		if _, err := s.PutAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	var tickets []int64
	prev := map[int64]string{} // queue ID -> status after the last step
	for step := range steps {
		var (
			op  string
			err error
		)
		switch r := rng.IntN(100); {
		case r < 25:
			op = "call"
			var res CallResult
			res, err = s.CreateCall(ctx, NewCall{Call: model.Call{Routing: model.RoutingNative, Direction: model.DirectionIn,
				Status: model.StatusOpen, SubchannelID: int64(rng.IntN(3)), ChannelID: fmt.Sprintf("c%d", step)}})
			if err == nil {
				tickets = append(tickets, res.Answer.TicketID)
			}
		case r < 50:
			user := 1 + rng.Int64N(agents)
			to := model.Presences[rng.IntN(len(model.Presences))]
			if rng.IntN(3) > 0 {
				to = model.PresenceIdle // mostly agents becoming available
			}
			op = fmt.Sprintf("presence %d %s", user, to)
			_, err = s.SetRoutingStatus(ctx, user, model.RoutingStatusChange{CallRoutingStatus: to})
		case r < 65 && len(tickets) > 0:
			user, ticket := 1+rng.Int64N(agents), tickets[rng.IntN(len(tickets))]
			if ringing := ringingAgents(t, s.Store); len(ringing) > 0 && rng.IntN(4) > 0 {
				// Mostly the ringing agent answers.
				user = ringing[rng.IntN(len(ringing))]
				p, _ := s.Presence(user)
				ticket = p.CurrentTicketID
			}
			op = fmt.Sprintf("answer %d %d", user, ticket)
			_, err = s.AgentConnected(ctx, model.AgentConnected{UserID: user, TicketID: ticket})
		case r < 80 && len(tickets) > 0:
			ticket := tickets[rng.IntN(len(tickets))]
			op = fmt.Sprintf("hangup %d", ticket)
			_, err = s.CallCompleted(ctx, model.CallCompleted{ChannelID: "x", TicketID: ticket, Transcript: []model.TranscriptEntry{}})
		case r < 97:
			d := time.Duration(rng.IntN(26)) * time.Second
			op = fmt.Sprintf("tick +%s", d)
			clk.Advance(d)
			_, err = s.ExpireDue(ctx)
		default:
			op = "restart"
			s.stop()
			s = openRunning(t, path, clk)
		}
		if err != nil && !errors.Is(err, ErrConflict) {
			t.Fatalf("step %d %s: %v", step, op, err)
		}
		before := maps.Clone(prev)
		if msg := checkInvariants(t, s.Store, tickets, prev); msg != "" {
			t.Fatalf("step %d %s: %s", step, op, msg)
		}
		for id, st := range prev {
			seen[before[id]+">"+st]++
		}
	}
}

func ringingAgents(t *testing.T, s *Store) []int64 {
	var out []int64
	err := s.eng.Bolt().View(func(tx *bolt.Tx) error {
		return eachPresence(tx, func(p *model.Presence) error {
			if p.CallRoutingStatus == model.PresenceBeingConnected && p.CurrentTicketID != 0 {
				out = append(out, p.UserID)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkInvariants returns what is wrong with the stored state, or "".
func checkInvariants(t *testing.T, s *Store, tickets []int64, prev map[int64]string) string {
	t.Helper()
	var msg string
	err := s.eng.Bolt().View(func(tx *bolt.Tx) error {
		entries := map[int64]*model.QueueEntry{}
		c := tx.Bucket(bucketQueues).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			q := new(model.QueueEntry)
			if err := json.Unmarshal(v, q); err != nil {
				return err
			}
			entries[q.ID] = q
		}
		if len(entries) != len(tickets) {
			msg = fmt.Sprintf("%d queue entries for %d calls", len(entries), len(tickets))
			return nil
		}
		// The waiting index is exactly the waiting entries.
		indexed := map[int64]bool{}
		for _, e := range waitingEntries(tx) {
			indexed[e.ID] = true
			if q := entries[e.ID]; q == nil || q.Status != model.QueueWaitingForAgent || q.PrimaryTagID != e.Tag {
				msg = fmt.Sprintf("waiting index has entry %d that is %+v", e.ID, q)
				return nil
			}
		}
		holding := map[int64][]int64{}
		for _, q := range entries {
			if q.Status == model.QueueWaitingForAgent && !indexed[q.ID] {
				msg = fmt.Sprintf("waiting entry %d missing from the index", q.ID)
				return nil
			}
			switch q.Status {
			case model.QueueAssigned, model.QueueCurrentlyProcessed:
				holding[q.AssignedUserID] = append(holding[q.AssignedUserID], q.ID)
				p, err := getPresence(tx, q.AssignedUserID)
				if err != nil {
					return err
				}
				if p.CurrentTicketID != q.TicketID {
					msg = fmt.Sprintf("entry %d (%s) is with agent %d, whose presence holds ticket %d (%s)",
						q.ID, q.Status, q.AssignedUserID, p.CurrentTicketID, p.CallRoutingStatus)
					return nil
				}
				if q.Status == model.QueueAssigned && p.CallRoutingStatus != model.PresenceBeingConnected {
					msg = fmt.Sprintf("entry %d rings agent %d who is %s", q.ID, q.AssignedUserID, p.CallRoutingStatus)
					return nil
				}
			}
		}
		for agent, qs := range holding {
			if len(qs) > 1 {
				msg = fmt.Sprintf("agent %d holds %d calls at once: %v", agent, len(qs), qs)
				return nil
			}
		}
		// No waiting call has a free agent who could take it.
		online := onlineAgents(tx)
		idle := map[int64]bool{}
		c = tx.Bucket(bucketAgentsIdle).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			id := fromU64(k[8:])
			idle[id] = true
			p, err := getPresence(tx, id)
			if err != nil {
				return err
			}
			if p.CallRoutingStatus != model.PresenceIdle || p.CurrentTicketID != 0 {
				msg = fmt.Sprintf("idle index has agent %d who is %s with ticket %d", id, p.CallRoutingStatus, p.CurrentTicketID)
				return nil
			}
		}
		for _, e := range waitingEntries(tx) {
			for _, a := range online {
				if idle[a.ID] && a.Serves(e.Tag) {
					msg = fmt.Sprintf("entry %d (tag %d) waits while agent %d is idle and serves it", e.ID, e.Tag, a.ID)
					return nil
				}
			}
		}
		// getRouting's in-place walks agree with routing's rules.
		waiting := waitingEntries(tx)
		for _, e := range waiting {
			if got, want := position(tx, entries[e.ID]), routing.Position(e, waiting); got != want {
				msg = fmt.Sprintf("position of %d: %d, routing says %d", e.ID, got, want)
				return nil
			}
		}
		// The indexes kept in each transaction are the ones Open would
		// derive from the records (derive.go).
		if m := derivedDiffer(tx); m != "" {
			msg = m
			return nil
		}
		for tag := int64(0); tag <= 2; tag++ {
			if got, want := onlineServing(tx, tag), routing.OnlineServing(tag, online); !slices.Equal(got, want) {
				msg = fmt.Sprintf("online serving tag %d: %v, routing says %v", tag, got, want)
				return nil
			}
		}
		// Arrival order: a call the distributor routed in this step has no
		// earlier call of the same skill still waiting.
		for id, q := range entries {
			if q.Status == model.QueueAssigned && prev[id] != model.QueueAssigned {
				for _, w := range waitingEntries(tx) {
					if w.ID < id && w.Tag == q.PrimaryTagID {
						msg = fmt.Sprintf("entry %d routed while earlier entry %d of tag %d waits", id, w.ID, w.Tag)
						return nil
					}
				}
			}
		}
		for id, q := range entries {
			prev[id] = q.Status
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// State survives a restart: timers due while the edge was down apply at
// the first tick after it comes back, and the indexes are the stored ones.
func TestRoutingSurvivesRestart(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "edge.db")
	s := openRunning(t, path, clk)
	ctx := context.Background()
	for _, id := range []int64{1, 2} {
		if _, err := s.SetRoutingStatus(ctx, id, model.RoutingStatusChange{CallRoutingStatus: model.PresenceIdle}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
	}
	res, err := s.CreateCall(ctx, NewCall{Call: model.Call{Routing: model.RoutingNative, Direction: model.DirectionIn, Status: model.StatusOpen}})
	if err != nil {
		t.Fatal(err)
	}
	s.stop()
	clk.Advance(time.Minute)
	s = openRunning(t, path, clk)
	defer s.stop()
	if n, err := s.ExpireDue(ctx); err != nil || n < 2 {
		t.Fatalf("ExpireDue after restart: %d, %v", n, err)
	}
	ans, err := s.Routing(RoutingQuery{TicketID: res.Answer.TicketID})
	if err != nil {
		t.Fatal(err)
	}
	if ans.Status != model.QueueAssigned || ans.AssignedUserID == nil || *ans.AssignedUserID != 2 {
		b, _ := json.Marshal(ans)
		t.Fatalf("after restart and ring timeout: %s", b)
	}
	if p, _ := s.Presence(1); p.CallRoutingStatus != model.PresenceNotResponding {
		t.Errorf("agent 1 %s, want notResponding", p.CallRoutingStatus)
	}
}

// onlineAgents reads the online index (ID and skills) for the checks.
func onlineAgents(tx *bolt.Tx) []routing.Agent {
	var out []routing.Agent
	c := tx.Bucket(bucketAgentsOnline).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		out = append(out, routing.Agent{ID: fromU64(k), Status: model.PresenceIdle, Skills: skillsOf(v)})
	}
	return out
}
