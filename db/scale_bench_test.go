package db

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/model"
	"github.com/enneo-edge/enneo-edge/routing"
)

// The hot paths measured as the state grows (issue 14): getRouting's
// position with more waiting calls, callReceived's customer look-up with
// more customers and tickets, agentConnected with more agents online.
// TestHotPathAllocsFlat pins their allocations, since times flake on a
// shared machine; BENCHMARKS.md has the times.

// scaleRouting gives the agents skill tag 1 for line 1: calls of line 1
// wait for agents 1..10, the other agents serve other tags.
var scaleRouting = routing.Config{SubchannelTags: map[int64]int64{1: 1}}

type scaleState struct {
	agents, waiting, customers, tickets int
}

func (st scaleState) String() string {
	return fmt.Sprintf("agents=%d/waiting=%d/customers=%d/tickets=%d", st.agents, st.waiting, st.customers, st.tickets)
}

func scalePhone(i int) string { return fmt.Sprintf("+49151%08d", i) }

// openScale builds a store holding st: customers with a phone each,
// closed-out tickets (external routing), agents online and unavailable
// (so calls wait and nobody is dispatched), and waiting calls of line 1.
// Everything goes in bulk, 10,000 a transaction.
func openScale(tb testing.TB, st scaleState) (*Store, func()) {
	tb.Helper()
	s, err := Open(filepath.Join(tb.TempDir(), "edge.db"), Options{SiteID: 3, Routing: scaleRouting})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	stop := func() { cancel(); _ = s.Close() }
	const batch = 10_000
	for i := 0; i < st.customers; i += batch {
		var cs []model.Customer
		for j := i; j < min(i+batch, st.customers); j++ {
			id := strconv.Itoa(j + 1)
			cs = append(cs, model.Customer{ID: id, ContractIDs: []string{"C" + id}, Phones: []string{scalePhone(j)},
				PhonesE164: []string{scalePhone(j)}, Lastname: "Mustermann " + id})
		}
		if err := s.UpsertCustomersBulk(cs); err != nil {
			tb.Fatal(err)
		}
	}
	for i := 0; i < st.tickets; i += batch {
		var ncs []NewCall
		for j := i; j < min(i+batch, st.tickets); j++ {
			ncs = append(ncs, scaleCall(model.RoutingExternal, "t"+strconv.Itoa(j), scalePhone(j%max(st.customers, 1))))
		}
		if err := s.CreateCallsBulk(ncs); err != nil {
			tb.Fatal(err)
		}
	}
	var agents []model.Agent
	for id := 1; id <= st.agents; id++ {
		tag := int64(1)
		if id > 10 {
			tag = int64(2 + id%49)
		}
		agents = append(agents, model.Agent{ID: int64(id), Name: "Agent " + strconv.Itoa(id), SkillTagIDs: []int64{tag}})
	}
	if err := s.PutAgentsBulk(agents, model.PresenceUnavailable); err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < st.waiting; i += batch {
		var ncs []NewCall
		for j := i; j < min(i+batch, st.waiting); j++ {
			ncs = append(ncs, scaleCall(model.RoutingNative, "w"+strconv.Itoa(j), scalePhone(j)))
		}
		if err := s.CreateCallsBulk(ncs); err != nil {
			tb.Fatal(err)
		}
	}
	return s, stop
}

func scaleCall(r, channel, phone string) NewCall {
	return NewCall{Call: model.Call{Routing: r, Direction: model.DirectionIn, Status: model.StatusOpen, ChannelID: channel,
		Phone: phone, SubchannelID: 1, Transcript: []model.TranscriptEntry{{Speaker: "customer", Message: "Guten Tag"}}},
		CallerE164: phone}
}

// lastWaiting adds one more waiting call, the last in the queue (the walk
// getRouting's position replaced stepped over every call before it), and
// returns its ticket.
func lastWaiting(tb testing.TB, s *Store) int64 {
	tb.Helper()
	res, err := s.CreateCall(context.Background(), scaleCall(model.RoutingNative, "probe", scalePhone(1)))
	if err != nil {
		tb.Fatal(err)
	}
	return res.Answer.TicketID
}

func big() bool { return os.Getenv("ENNEO_BENCH_BIG") != "" }

func BenchmarkRoutingPosition(b *testing.B) {
	for _, w := range []int{0, 500, 5000} {
		st := scaleState{agents: 10, waiting: w}
		b.Run(st.String(), func(b *testing.B) {
			s, stop := openScale(b, st)
			defer stop()
			ticket := lastWaiting(b, s)
			b.ReportAllocs()
			for b.Loop() {
				a, err := s.Routing(RoutingQuery{TicketID: ticket})
				if err != nil || a.PositionDetails.Position != w {
					b.Fatalf("position %v (%v), want %d", a.PositionDetails.Position, err, w)
				}
			}
		})
	}
}

// BenchmarkCallReceivedLookup is one callReceived of a known caller inside
// its transaction (no fsync: calls share one), external routing: the
// customer look-up by phone, the channelId index, the ticket and outbox
// writes. ENNEO_BENCH_BIG=1 adds a million customers and tickets.
func BenchmarkCallReceivedLookup(b *testing.B) {
	sizes := []int{10_000, 100_000}
	if big() {
		sizes = append(sizes, 1_000_000)
	}
	for _, n := range sizes {
		st := scaleState{agents: 10, customers: n, tickets: n}
		b.Run(st.String(), func(b *testing.B) {
			s, stop := openScale(b, st)
			defer stop()
			b.ReportAllocs()
			err := s.eng.Bolt().Update(func(tx *bolt.Tx) error {
				i := 0
				for b.Loop() {
					i++
					nc := scaleCall(model.RoutingExternal, "b"+strconv.Itoa(i), scalePhone(i*7919%n))
					res, err := s.flow.CreateCall(schemaTx{tx}, s.now(), nc)
					if err != nil {
						return err
					}
					if res.Answer.CustomerID == "" {
						return fmt.Errorf("caller %s not identified", nc.CallerE164)
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkAgentConnected is agentConnected inside its transaction with 10
// and 500 agents online; the callCompleted that frees the agent for the
// next iteration is outside the timer.
func BenchmarkAgentConnected(b *testing.B) {
	for _, a := range []int{10, 500} {
		st := scaleState{agents: a, waiting: 100}
		b.Run(st.String(), func(b *testing.B) {
			s, stop := openScale(b, st)
			defer stop()
			b.ReportAllocs()
			err := s.eng.Bolt().Update(func(tx *bolt.Tx) error {
				x := schemaTx{tx}
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					res, err := s.flow.CreateCall(x, s.now(), scaleCall(model.RoutingExternal, "c"+strconv.Itoa(i), scalePhone(i)))
					if err != nil {
						return err
					}
					b.StartTimer()
					if _, err := s.flow.AgentConnected(x, s.now(), model.AgentConnected{UserID: 1, TicketID: res.Answer.TicketID}); err != nil {
						return err
					}
					b.StopTimer()
					if _, err := s.flow.CallCompleted(x, s.now(), model.CallCompleted{TicketID: res.Answer.TicketID}); err != nil {
						return err
					}
					b.StartTimer()
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkPositionRankVsWalk is the queue position alone, from the rank
// index and by the walk it replaced, for the last of N waiting calls: the
// A/B of the change, in one run.
func BenchmarkPositionRankVsWalk(b *testing.B) {
	for _, w := range []int{0, 500, 5000} {
		s, stop := openScale(b, scaleState{agents: 10, waiting: w})
		ticket := lastWaiting(b, s)
		var q *model.QueueEntry
		if err := s.view(func(tx *bolt.Tx) error {
			var err error
			q, err = queueFor(tx, RoutingQuery{TicketID: ticket})
			return err
		}); err != nil {
			b.Fatal(err)
		}
		for _, v := range []struct {
			name string
			fn   func(*bolt.Tx, *model.QueueEntry) int
		}{{"rank", position}, {"walk", positionWalk}} {
			b.Run(fmt.Sprintf("%s/waiting=%d", v.name, w), func(b *testing.B) {
				b.ReportAllocs()
				err := s.view(func(tx *bolt.Tx) error {
					for b.Loop() {
						if p := v.fn(tx, q); p != w {
							return fmt.Errorf("position %d, want %d", p, w)
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			})
		}
		stop()
	}
}
