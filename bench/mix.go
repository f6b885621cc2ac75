package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
)

// channelPlaceholder marks where each request's unique channelId goes in a
// pre-rendered body.
const channelPlaceholder = "@@BENCH_CHANNEL_ID@@"

// variantsPerEntry is how many pre-rendered bodies (different phone numbers,
// agents, transcripts) each mix entry gets: enough variety that the server
// cannot cache one answer, rendered once so the generator stays cheap.
const variantsPerEntry = 256

// MixEntry is one kind of request and its share of the load.
type MixEntry struct {
	Name   string
	Weight int
	// Body is a JSON object; its channelId (added when absent) is replaced
	// by a unique value for every request.
	Body map[string]any
	// vary returns the body for variant i; nil means Body unchanged.
	vary func(r *rand.Rand) map[string]any
}

// Mix is a weighted set of request bodies.
type Mix struct {
	Entries []MixEntry
}

// DefaultMix is realistic traffic from a PBX: inbound calls with the
// caller's number and a voicebot transcript (external routing), inbound
// calls for the edge's own queue (native routing), and outbound calls an
// agent places.
func DefaultMix() *Mix {
	return &Mix{Entries: []MixEntry{
		{Name: "inbound-external", Weight: 50, vary: inboundExternal},
		{Name: "inbound-native", Weight: 35, vary: inboundNative},
		{Name: "outbound", Weight: 15, vary: outbound},
	}}
}

func germanMobile(r *rand.Rand) string {
	return fmt.Sprintf("+49 1%d%d %07d", 5+r.IntN(3), r.IntN(10), r.IntN(10_000_000))
}

func inboundExternal(r *rand.Rand) map[string]any {
	return map[string]any{
		"routing":             "external",
		"direction":           "in",
		"phone":               germanMobile(r),
		"callerName":          "Bench Caller " + strconv.Itoa(r.IntN(1000)),
		"subchannelId":        1 + r.IntN(4),
		"triggerAiProcessing": true,
		"transcript": []map[string]any{
			{"speaker": "agent", "message": "Guten Tag, Sie sprechen mit dem digitalen Assistenten. Worum geht es?", "timestamp": "2026-11-25T09:00:00Z"},
			{"speaker": "customer", "message": "Meine Abschlagszahlung ist zu hoch, Vertragsnummer " + strconv.Itoa(100000+r.IntN(900000)) + ".", "timestamp": "2026-11-25T09:00:04Z"},
			{"speaker": "agent", "message": "Ich verbinde Sie mit einer Kollegin.", "timestamp": "2026-11-25T09:00:09Z"},
		},
	}
}

func inboundNative(r *rand.Rand) map[string]any {
	return map[string]any{
		"routing":      "native",
		"direction":    "in",
		"phone":        germanMobile(r),
		"subchannelId": 1 + r.IntN(4),
	}
}

func outbound(r *rand.Rand) map[string]any {
	return map[string]any{
		"routing":     "none",
		"direction":   "out",
		"to":          germanMobile(r),
		"agentId":     1 + r.IntN(200),
		"triggeredBy": 1 + r.IntN(200),
	}
}

// ParseMix reads a mix file: JSON Lines, one entry a line, each
// {"name": "...", "weight": N, "body": {...callReceived body...}}. Blank
// lines and lines starting with # are skipped.
func ParseMix(r io.Reader) (*Mix, error) {
	m := &Mix{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		var e struct {
			Name   string         `json:"name"`
			Weight *int           `json:"weight"`
			Body   map[string]any `json:"body"`
		}
		if err := json.Unmarshal([]byte(text), &e); err != nil {
			return nil, fmt.Errorf("mix line %d: %w", line, err)
		}
		switch {
		case e.Body == nil:
			return nil, fmt.Errorf("mix line %d: body: missing (a callReceived JSON object)", line)
		case e.Weight == nil:
			return nil, fmt.Errorf("mix line %d: weight: missing", line)
		case *e.Weight < 1:
			return nil, fmt.Errorf("mix line %d: weight: %d is not positive", line, *e.Weight)
		}
		if e.Name == "" {
			e.Name = "line-" + strconv.Itoa(line)
		}
		m.Entries = append(m.Entries, MixEntry{Name: e.Name, Weight: *e.Weight, Body: e.Body})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mix: %w", err)
	}
	if len(m.Entries) == 0 {
		return nil, errors.New("mix: no entries")
	}
	return m, nil
}

// template is a rendered body split around its channelId.
type template struct {
	entry          int
	prefix, suffix []byte
}

// bodies hands out request bodies: a fixed, seeded sequence of templates
// with a unique channelId spliced into each.
type bodies struct {
	templates []template // weighted: an entry with weight w appears w times per round
	names     []string
	channel   string // channelId prefix, unique per run and target
}

func newBodies(m *Mix, seed uint64, channelPrefix string) (*bodies, error) {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := &bodies{channel: channelPrefix}
	var variants [][]template
	for i, e := range m.Entries {
		if e.Weight < 1 {
			return nil, fmt.Errorf("mix entry %s: weight %d is not positive", e.Name, e.Weight)
		}
		b.names = append(b.names, e.Name)
		n := variantsPerEntry
		if e.vary == nil {
			n = 1
		}
		var vs []template
		for range n {
			body := e.Body
			if e.vary != nil {
				body = e.vary(r)
			}
			t, err := render(body)
			if err != nil {
				return nil, fmt.Errorf("mix entry %s: %w", e.Name, err)
			}
			t.entry = i
			vs = append(vs, t)
		}
		variants = append(variants, vs)
	}
	// Interleave by weight so any prefix of the sequence has the mix's
	// proportions (within one round), whatever the run's length.
	total := 0
	for _, e := range m.Entries {
		total += e.Weight
	}
	const rounds = 64
	for range rounds {
		acc := make([]int, len(m.Entries))
		for range total {
			best := 0
			for j, e := range m.Entries {
				acc[j] += e.Weight
				if acc[j] > acc[best] {
					best = j
				}
			}
			acc[best] -= total
			vs := variants[best]
			b.templates = append(b.templates, vs[r.IntN(len(vs))])
		}
	}
	return b, nil
}

func render(body map[string]any) (template, error) {
	cp := make(map[string]any, len(body)+1)
	for k, v := range body {
		cp[k] = v
	}
	cp["channelId"] = channelPlaceholder
	raw, err := json.Marshal(cp)
	if err != nil {
		return template{}, fmt.Errorf("encode body: %w", err)
	}
	pre, suf, ok := bytes.Cut(raw, []byte(channelPlaceholder))
	if !ok {
		return template{}, errors.New("encode body: channelId placeholder lost")
	}
	return template{prefix: pre, suffix: suf}, nil
}

// appendBody appends the body of request i to dst and returns it with the
// index of its mix entry.
func (b *bodies) appendBody(dst []byte, i int64) ([]byte, int) {
	t := &b.templates[i%int64(len(b.templates))]
	dst = append(dst, t.prefix...)
	dst = append(dst, b.channel...)
	dst = strconv.AppendInt(dst, i, 10)
	dst = append(dst, t.suffix...)
	return dst, t.entry
}
