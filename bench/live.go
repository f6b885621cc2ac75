package bench

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
)

// ChannelPrefix starts the channelId of every call the generator sends,
// followed by the run's ID: the calls of a benchmark are recognisable (and
// removable) among real ones on any target.
const ChannelPrefix = "enneo-bench-"

// LiveMix is the only default traffic sent to a system the operator named
// with -url: inbound calls with routing none. Each leaves one closed
// ticket under ChannelPrefix and its forward to central; none waits in a
// queue, rings an agent or changes anyone's presence.
func LiveMix() *Mix {
	return &Mix{Entries: []MixEntry{{Name: "inbound-none", Weight: 1, vary: inboundNone}}}
}

func inboundNone(r *rand.Rand) map[string]any {
	return map[string]any{
		"routing":   "none",
		"direction": "in",
		"phone":     germanMobile(r),
	}
}

// agentFields name a human or bot; a call carrying one changes the
// presence or the assignment of a real agent on the target.
var agentFields = []string{"userId", "agentId", "triggeredBy", "aiAgentId"}

// CheckLive refuses a mix that would leave more on a live target than
// closed routing-none tickets: queued or ringing calls (routing external or
// native, outbound calls) and, unless allowAgents, calls naming an agent.
func (m *Mix) CheckLive(allowAgents bool) error {
	r := rand.New(rand.NewPCG(1, 1))
	var problems []string
	for _, e := range m.Entries {
		body := e.Body
		if e.vary != nil {
			body = e.vary(r)
		}
		if v, ok := body["routing"]; ok && v != "none" {
			problems = append(problems, fmt.Sprintf("%s: routing %v (only \"none\" leaves no waiting call)", e.Name, v))
		}
		if v, ok := body["direction"]; ok && v != "in" {
			problems = append(problems, fmt.Sprintf("%s: direction %v (an outbound call opens a queue entry)", e.Name, v))
		}
		if allowAgents {
			continue
		}
		for _, f := range agentFields {
			if _, ok := body[f]; ok {
				problems = append(problems, fmt.Sprintf("%s: %s names an agent (add -agents to allow)", e.Name, f))
			}
		}
	}
	if len(problems) > 0 {
		return errors.New("mix not safe for a live target: " + strings.Join(problems, "; "))
	}
	return nil
}

// Describe says in one sentence per target what a run writes there.
func Describe(t Target, o Options) string {
	mix := o.Mix
	if mix == nil {
		mix = DefaultMix()
	}
	planned := o.Requests
	if planned <= 0 && o.Rate > 0 {
		planned = int64(o.Rate * o.Duration.Seconds())
	}
	n := fmt.Sprintf("up to %d", planned)
	if planned <= 0 {
		n = fmt.Sprintf("as many as it answers in %v", o.Duration)
	}
	var names []string
	for _, e := range mix.Entries {
		names = append(names, e.Name)
	}
	return fmt.Sprintf("%s (%s): %s callReceived calls (%s), each creating a ticket with channelId %s<run>-<n>",
		t.Name, t.URL, n, strings.Join(names, ", "), ChannelPrefix)
}
