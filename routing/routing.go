// Package routing is the edge's automatic call distributor for
// routing=native calls, as pure decisions: given the waiting queue entries,
// the agents and the time, it says who gets which call and which timers
// have run out. It does no I/O; package callflow applies its decisions inside the
// same bbolt transaction as the event that triggered them, so every
// decision is durable before anyone is told about it.
package routing

import (
	"github.com/enneo-edge/enneo-edge/model"
	"slices"
	"time"
)

// Agent is what routing needs to know about one agent.
type Agent struct {
	ID     int64
	Skills []int64 // tag IDs the agent handles
	Status string  // call routing status
	// Since is when Status was entered: the longest-idle agent is offered
	// the next call, and ring and after-call-work timers run from it.
	Since time.Time
	// Ticket is the call the agent rings for, talks on or wraps up; 0 none.
	Ticket int64
	// RingTimeout and ACW, when set, replace Config's for this agent's
	// current call: the phone line it came in on has its own (the line
	// settings pulled from central).
	RingTimeout, ACW time.Duration
}

// Serves reports whether the agent has the skill an entry with tag needs;
// an entry without a tag (0) is served by every agent.
func (a *Agent) Serves(tag int64) bool { return Serves(a.Skills, tag) }

// Serves reports whether an agent with skills serves an entry with tag.
func Serves(skills []int64, tag int64) bool {
	return tag == 0 || slices.Contains(skills, tag)
}

// Routable reports whether the agent may be offered a call now: idle and
// holding no call (so an agent never gets two calls at once).
func (a *Agent) Routable() bool { return a.Status == model.PresenceIdle && a.Ticket == 0 }

// Online reports whether the agent is logged in (any status but offline).
func (a *Agent) Online() bool { return a.Status != model.PresenceOffline && a.Status != "" }

// Entry is a queue entry waiting for an agent.
type Entry struct {
	// ID is the queue entry ID. IDs grow with arrival, so ascending ID is
	// arrival order, also for an entry offered again after a missed ring.
	ID        int64
	Tag       int64 // primary tag (skill) the call needs; 0 = any agent
	CreatedAt time.Time
}

// Assignment offers entry EntryID to agent AgentID.
type Assignment struct {
	EntryID int64
	AgentID int64
}

// Assign pairs waiting entries with routable agents: entries in arrival
// order, each to the longest-idle routable agent who serves its tag (ties:
// lower agent ID). Every agent and entry appears at most once. An entry no
// free agent serves does not block later entries with other tags.
func Assign(waiting []Entry, agents []Agent) []Assignment {
	free := make([]*Agent, 0, len(agents))
	for i := range agents {
		if agents[i].Routable() {
			free = append(free, &agents[i])
		}
	}
	if len(free) == 0 || len(waiting) == 0 {
		return nil
	}
	slices.SortFunc(free, func(a, b *Agent) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return cmpInt(a.ID, b.ID)
	})
	order := sortedEntries(waiting)
	var out []Assignment
	for _, e := range order {
		for i, a := range free {
			if a != nil && a.Serves(e.Tag) {
				out = append(out, Assignment{EntryID: e.ID, AgentID: a.ID})
				free[i] = nil
				break
			}
		}
	}
	return out
}

func sortedEntries(waiting []Entry) []Entry {
	order := slices.Clone(waiting)
	slices.SortFunc(order, func(a, b Entry) int { return cmpInt(a.ID, b.ID) })
	return order
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Config holds the timers of the distributor.
type Config struct {
	// RingTimeout is how long an offered agent may ring before they become
	// notResponding and the call is offered again.
	RingTimeout time.Duration
	// MaxWait is how long a call may wait for an agent before it is
	// declined.
	MaxWait time.Duration
	// ACW is the after-call work time: acw agents become idle after it.
	ACW time.Duration
	// DefaultHandleTime is the handling time assumed for wait estimates
	// until calls have been completed.
	DefaultHandleTime time.Duration
	// SubchannelTags maps a phone line (subchannelId) to the tag (skill)
	// its calls need; lines not listed need no skill.
	SubchannelTags map[int64]int64
}

// DefaultConfig returns the timers used when the configuration names none.
func DefaultConfig() Config {
	return Config{RingTimeout: 20 * time.Second, MaxWait: 10 * time.Minute, ACW: 30 * time.Second,
		DefaultHandleTime: 3 * time.Minute}
}

// Due lists what the timers say must happen at a moment.
type Due struct {
	RingExpired []int64 // agents who rang for RingTimeout without answering
	ACWDone     []int64 // agents whose after-call work is over
	Expired     []int64 // waiting entries that waited MaxWait
}

// Empty reports whether nothing is due.
func (d Due) Empty() bool {
	return len(d.RingExpired) == 0 && len(d.ACWDone) == 0 && len(d.Expired) == 0
}

// DueAt returns the timers that have run out at now. A timer runs out at
// exactly its deadline, so a test clock set to the deadline fires it.
func DueAt(cfg Config, now time.Time, agents []Agent, waiting []Entry) Due {
	var d Due
	for i := range agents {
		a := &agents[i]
		ring, acw := cfg.RingTimeout, cfg.ACW
		if a.RingTimeout > 0 {
			ring = a.RingTimeout
		}
		if a.ACW > 0 {
			acw = a.ACW
		}
		switch {
		case a.Status == model.PresenceBeingConnected && !now.Before(a.Since.Add(ring)):
			d.RingExpired = append(d.RingExpired, a.ID)
		case a.Status == model.PresenceACW && !now.Before(a.Since.Add(acw)):
			d.ACWDone = append(d.ACWDone, a.ID)
		}
	}
	for _, e := range waiting {
		if cfg.MaxWait > 0 && !now.Before(e.CreatedAt.Add(cfg.MaxWait)) {
			d.Expired = append(d.Expired, e.ID)
		}
	}
	return d
}

// Position is the entry's place in the queue (0 = next): the number of
// earlier waiting entries that compete for the same agents (same tag, or
// either without a tag).
func Position(e Entry, waiting []Entry) int {
	n := 0
	for _, w := range waiting {
		if w.ID < e.ID && Competes(w.Tag, e.Tag) {
			n++
		}
	}
	return n
}

// Competes reports whether calls with tags a and b wait for the same
// agents: same tag, or either without a tag.
func Competes(a, b int64) bool { return a == b || a == 0 || b == 0 }

// OnlineServing returns, in ascending order, the IDs of the logged-in
// agents who serve tag.
func OnlineServing(tag int64, agents []Agent) []int64 {
	ids := []int64{}
	for i := range agents {
		if agents[i].Online() && agents[i].Serves(tag) {
			ids = append(ids, agents[i].ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// EstimatedWait is the expected wait in seconds of the entry at position
// when agents serve its queue and a call takes handle on average: the
// calls ahead, plus this one, shared among the agents. -1 means no agent
// serves the queue, as enneo reports it.
func EstimatedWait(position, agents int, handle time.Duration) int64 {
	if agents <= 0 {
		return -1
	}
	return int64((time.Duration(position+1) * handle / time.Duration(agents)).Seconds())
}

// AverageHandle averages recent handling times, or returns def when there
// are none yet.
func AverageHandle(recent []time.Duration, def time.Duration) time.Duration {
	if len(recent) == 0 {
		return def
	}
	var sum time.Duration
	for _, d := range recent {
		sum += d
	}
	return sum / time.Duration(len(recent))
}
