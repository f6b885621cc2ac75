package cluster

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestOverlappingOffers: the native-routing check of the kill test finds
// an agent holding two calls, and only that: a ring that times out, a call
// answered by another agent at the instant it stops ringing for the first
// and a call offered after the agent's last one completed are fine.
func TestOverlappingOffers(t *testing.T) {
	parse := func(lines ...string) []exportedTicket {
		var out []exportedTicket
		for _, l := range lines {
			var tk exportedTicket
			dec := json.NewDecoder(strings.NewReader(l))
			dec.UseNumber()
			if err := dec.Decode(&tk); err != nil {
				t.Fatal(err)
			}
			out = append(out, tk)
		}
		return out
	}
	ev := func(at, to string, user int) string {
		return `{"type":"queueStatusChanged","at":"2026-12-01T10:00:` + at + `Z","data":{"to":"` + to + `","userId":` + string(rune('0'+user)) + `}}`
	}
	tk := func(id string, evs ...string) string {
		return `{"id":` + id + `,"channelId":"c` + id + `","events":[` + strings.Join(evs, ",") + `]}`
	}
	fine := parse(
		// agent 1 rings for ticket 1 until the ring times out, then agent 2
		// takes it and completes it.
		tk("1", ev("00", "assigned", 1), ev("05", "waitingForAgent", 1), ev("06", "assigned", 2),
			ev("07", "currentlyProcessed", 2), ev("20", "completed", 0)),
		// agent 1 rings for ticket 2 from the moment ticket 1 left them.
		tk("2", ev("05", "assigned", 1), ev("08", "currentlyProcessed", 1), ev("30", "completed", 0)),
		// agent 2 is offered ticket 3 at the instant ticket 1 completed;
		// agent 3 answers it (another agent took the call): agent 2 is free
		// from then on and rings for ticket 4.
		tk("3", ev("20", "assigned", 2), ev("21", "currentlyProcessed", 3), ev("25", "completed", 0)),
		tk("4", ev("22", "assigned", 2), ev("24", "completed", 0)),
	)
	if bad := overlappingOffers(fine); len(bad) != 0 {
		t.Fatalf("reported on a clean history: %v", bad)
	}
	overlap := parse(
		tk("1", ev("00", "assigned", 1), ev("10", "currentlyProcessed", 1), ev("50", "completed", 0)),
		tk("2", ev("02", "assigned", 2), ev("03", "completed", 0)),
		// agent 1 still talks on ticket 1 (until :50) when ticket 3 rings.
		tk("3", ev("40", "assigned", 1), ev("45", "waitingForAgent", 1)),
	)
	if bad := overlappingOffers(overlap); len(bad) != 1 || !strings.Contains(bad[0], "agent 1 offered ticket 3") {
		t.Fatalf("want one overlap of agent 1 on ticket 3, got %v", bad)
	}
	// A call that never left its agent holds them for good.
	open := parse(
		tk("1", ev("00", "currentlyProcessed", 4)),
		tk("2", ev("30", "assigned", 4), ev("35", "completed", 0)),
	)
	if bad := overlappingOffers(open); len(bad) != 1 {
		t.Fatalf("want an overlap with the open call, got %v", bad)
	}
}
