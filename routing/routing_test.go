package routing

import (
	"context"
	"fmt"
	"github.com/enneo-edge/enneo-edge/model"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func TestAssign(t *testing.T) {
	idle := func(id int64, since int, skills ...int64) Agent {
		return Agent{ID: id, Status: model.PresenceIdle, Since: at(since), Skills: skills}
	}
	tests := []struct {
		name    string
		waiting []Entry
		agents  []Agent
		want    []Assignment
	}{
		{"nobody waiting", nil, []Agent{idle(1, 0)}, nil},
		{"nobody idle", []Entry{{ID: 1}}, []Agent{{ID: 1, Status: model.PresenceUnavailable}}, nil},
		{"longest idle first", []Entry{{ID: 1}}, []Agent{idle(1, 5), idle(2, 3), idle(3, 4)}, []Assignment{{1, 2}}},
		{"tie broken by ID", []Entry{{ID: 1}}, []Agent{idle(9, 3), idle(4, 3)}, []Assignment{{1, 4}}},
		{"arrival order by ID, not slice order", []Entry{{ID: 7}, {ID: 3}}, []Agent{idle(1, 0)}, []Assignment{{3, 1}}},
		{"two calls two agents", []Entry{{ID: 1}, {ID: 2}}, []Agent{idle(1, 2), idle(2, 1)}, []Assignment{{1, 2}, {2, 1}}},
		{"skill match", []Entry{{ID: 1, Tag: 46}}, []Agent{idle(1, 0, 47), idle(2, 1, 46, 47)}, []Assignment{{1, 2}}},
		{"no skill, no call", []Entry{{ID: 1, Tag: 46}}, []Agent{idle(1, 0, 47)}, nil},
		{"untagged call for anyone", []Entry{{ID: 1}}, []Agent{idle(1, 0, 47)}, []Assignment{{1, 1}}},
		{"unserved entry does not block later ones", []Entry{{ID: 1, Tag: 46}, {ID: 2, Tag: 47}}, []Agent{idle(1, 0, 47)}, []Assignment{{2, 1}}},
		{"idle but holding a call", []Entry{{ID: 1}}, []Agent{{ID: 1, Status: model.PresenceIdle, Ticket: 5}}, nil},
		{"acw, beingConnected, notResponding are not routable", []Entry{{ID: 1}},
			[]Agent{{ID: 1, Status: model.PresenceACW}, {ID: 2, Status: model.PresenceBeingConnected}, {ID: 3, Status: model.PresenceNotResponding}, {ID: 4, Status: model.PresenceInteracting}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Assign(tc.waiting, tc.agents); !slices.Equal(got, tc.want) {
				t.Fatalf("Assign = %v, want %v", got, tc.want)
			}
		})
	}
}

// Random inputs: every assignment pairs a routable, skilled agent with a
// waiting entry, each at most once; no entry is left waiting while a free
// agent could take it; among entries of one tag, an entry is assigned only
// if every earlier one is.
func TestAssignProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	statuses := []string{model.PresenceIdle, model.PresenceIdle, model.PresenceIdle, model.PresenceBeingConnected, model.PresenceInteracting, model.PresenceACW, model.PresenceUnavailable, model.PresenceOffline}
	for round := range 2000 {
		var waiting []Entry
		for i := range rng.IntN(8) {
			waiting = append(waiting, Entry{ID: int64(100 + i*3 + rng.IntN(3)), Tag: int64(rng.IntN(3))})
		}
		rng.Shuffle(len(waiting), func(i, j int) { waiting[i], waiting[j] = waiting[j], waiting[i] })
		var agents []Agent
		for i := range rng.IntN(6) {
			a := Agent{ID: int64(i + 1), Status: statuses[rng.IntN(len(statuses))], Since: at(rng.IntN(5))}
			for tag := int64(1); tag <= 2; tag++ {
				if rng.IntN(2) == 0 {
					a.Skills = append(a.Skills, tag)
				}
			}
			agents = append(agents, a)
		}
		got := Assign(waiting, agents)
		byAgent, byEntry := map[int64]bool{}, map[int64]bool{}
		for _, as := range got {
			a := agents[slices.IndexFunc(agents, func(a Agent) bool { return a.ID == as.AgentID })]
			e := waiting[slices.IndexFunc(waiting, func(e Entry) bool { return e.ID == as.EntryID })]
			if byAgent[a.ID] || byEntry[e.ID] {
				t.Fatalf("round %d: agent %d or entry %d twice in %v", round, a.ID, e.ID, got)
			}
			byAgent[a.ID], byEntry[e.ID] = true, true
			if !a.Routable() || !a.Serves(e.Tag) {
				t.Fatalf("round %d: %+v cannot take %+v", round, a, e)
			}
		}
		for _, e := range waiting {
			if byEntry[e.ID] {
				continue
			}
			for _, a := range agents {
				if !byAgent[a.ID] && a.Routable() && a.Serves(e.Tag) {
					t.Fatalf("round %d: entry %+v left waiting while %+v is free", round, e, a)
				}
			}
			for _, later := range waiting {
				if later.ID > e.ID && later.Tag == e.Tag && byEntry[later.ID] {
					t.Fatalf("round %d: entry %d assigned before earlier %d of the same tag", round, later.ID, e.ID)
				}
			}
		}
	}
}

func TestDueAt(t *testing.T) {
	cfg := Config{RingTimeout: 20 * time.Second, ACW: 30 * time.Second, MaxWait: time.Minute}
	agents := []Agent{
		{ID: 1, Status: model.PresenceBeingConnected, Since: at(0)},
		{ID: 2, Status: model.PresenceBeingConnected, Since: at(5)},
		{ID: 3, Status: model.PresenceACW, Since: at(0)},
		{ID: 4, Status: model.PresenceIdle, Since: at(0)},
		{ID: 5, Status: model.PresenceNotResponding, Since: at(0)},
	}
	waiting := []Entry{{ID: 1, CreatedAt: at(-40)}, {ID: 2, CreatedAt: at(0)}}
	tests := []struct {
		now  int
		want Due
	}{
		{19, Due{}},
		{20, Due{RingExpired: []int64{1}, Expired: []int64{1}}},
		{30, Due{RingExpired: []int64{1, 2}, ACWDone: []int64{3}, Expired: []int64{1}}},
		{60, Due{RingExpired: []int64{1, 2}, ACWDone: []int64{3}, Expired: []int64{1, 2}}},
	}
	for _, tc := range tests {
		got := DueAt(cfg, at(tc.now), agents, waiting)
		if !slices.Equal(got.RingExpired, tc.want.RingExpired) || !slices.Equal(got.ACWDone, tc.want.ACWDone) ||
			!slices.Equal(got.Expired, tc.want.Expired) || got.Empty() != tc.want.Empty() {
			t.Errorf("at +%ds: %+v, want %+v", tc.now, got, tc.want)
		}
	}
}

func TestPositionAndEstimate(t *testing.T) {
	waiting := []Entry{{ID: 1, Tag: 46}, {ID: 2, Tag: 47}, {ID: 3}, {ID: 4, Tag: 46}}
	for _, tc := range []struct {
		e    Entry
		want int
	}{{waiting[0], 0}, {waiting[1], 0}, {waiting[2], 2}, {waiting[3], 2}} {
		if got := Position(tc.e, waiting); got != tc.want {
			t.Errorf("Position(%+v) = %d, want %d", tc.e, got, tc.want)
		}
	}
	for _, tc := range []struct {
		pos, agents int
		handle      time.Duration
		want        int64
	}{{0, 1, time.Minute, 60}, {1, 1, time.Minute, 120}, {3, 2, time.Minute, 120}, {0, 0, time.Minute, -1}} {
		if got := EstimatedWait(tc.pos, tc.agents, tc.handle); got != tc.want {
			t.Errorf("EstimatedWait(%d, %d, %s) = %d, want %d", tc.pos, tc.agents, tc.handle, got, tc.want)
		}
	}
	if got := AverageHandle(nil, time.Minute); got != time.Minute {
		t.Errorf("AverageHandle(nil) = %s", got)
	}
	if got := AverageHandle([]time.Duration{time.Minute, 3 * time.Minute}, 0); got != 2*time.Minute {
		t.Errorf("AverageHandle = %s", got)
	}
	agents := []Agent{{ID: 3, Status: model.PresenceIdle, Skills: []int64{46}}, {ID: 1, Status: model.PresenceUnavailable}, {ID: 2, Status: model.PresenceOffline, Skills: []int64{46}}}
	if got := OnlineServing(46, agents); !slices.Equal(got, []int64{3}) {
		t.Errorf("OnlineServing(46) = %v", got)
	}
	if got := OnlineServing(0, agents); !slices.Equal(got, []int64{1, 3}) {
		t.Errorf("OnlineServing(0) = %v", got)
	}
}

type countingExpirer struct{ n atomic.Int64 }

func (c *countingExpirer) ExpireDue(context.Context) (int, error) { c.n.Add(1); return 1, nil }

// tickClock fires its After on every send to it, so the test knows when
// the loop waits.
type tickClock chan time.Time

func (c tickClock) Now() time.Time                       { return t0 }
func (c tickClock) After(time.Duration) <-chan time.Time { return c }

// The loop calls the expirer once per tick of its clock and stops with its
// context; Close waits for it.
func TestLoopTicksAndStops(t *testing.T) {
	exp := &countingExpirer{}
	ticks := make(chan time.Time)
	l := NewLoop(exp, time.Hour, tickClock(ticks), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	for range 3 {
		ticks <- t0 // blocks until the loop waits for the next tick
	}
	ticks <- t0 // the third ExpireDue has returned once this is received
	if n := exp.n.Load(); n < 3 {
		t.Fatalf("%d ticks applied, want at least 3", n)
	}
	cancel()
	l.Close()
	<-done
	// A loop closed before it ran returns at once.
	l2 := NewLoop(exp, time.Second, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	l2.Close()
	l2.Run(context.Background())
}

func TestDueAtUsesTheLinesTimers(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := Config{RingTimeout: 20 * time.Second, ACW: 30 * time.Second}
	agents := []Agent{
		{ID: 1, Status: model.PresenceBeingConnected, Since: t0, Ticket: 9, RingTimeout: 5 * time.Second},
		{ID: 2, Status: model.PresenceBeingConnected, Since: t0, Ticket: 8},
		{ID: 3, Status: model.PresenceACW, Since: t0, Ticket: 7, ACW: 2 * time.Second},
		{ID: 4, Status: model.PresenceACW, Since: t0, Ticket: 6},
	}
	d := DueAt(cfg, t0.Add(5*time.Second), agents, nil)
	if fmt.Sprint(d.RingExpired, d.ACWDone) != "[1] [3]" {
		t.Fatalf("due %v %v, want the line's timers for agents 1 and 3 only", d.RingExpired, d.ACWDone)
	}
}
