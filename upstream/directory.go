package upstream

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/enneo-edge/enneo-edge/model"
)

// The shapes of GET /telephony/routingAvailability and GET
// /settings/subchannel are not public. The parsers below assume what the
// vendor plugin documentation describes and read it leniently: a list of
// objects, bare or under one of a few wrapper keys, or an object keyed by
// ID; IDs as numbers or numeric strings; skills as IDs or as objects with
// an ID; line settings on the line or under "settings" (an object or a
// JSON string). An element without a usable ID is skipped and counted.

var listKeys = []string{"agents", "users", "subchannels", "lines", "data", "result", "results", "items"}

// elements finds the list of objects in an answer.
func elements(raw []byte) ([]map[string]any, error) {
	var v any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	for range 3 { // unwrap at most a few levels of wrapper objects
		obj, ok := v.(map[string]any)
		if !ok {
			break
		}
		next, found := any(nil), false
		for _, k := range listKeys {
			if w, ok := obj[k]; ok {
				next, found = w, true
				break
			}
		}
		if !found {
			// An object keyed by ID: its values are the elements.
			list := make([]any, 0, len(obj))
			for k, e := range obj {
				if m, ok := e.(map[string]any); ok {
					if _, has := m["id"]; !has {
						m["id"] = k
					}
					list = append(list, m)
				}
			}
			if len(list) == 0 && len(obj) > 0 {
				// An object with neither a list nor objects keyed by ID: an
				// error or a shape this parser does not know. Storing it as
				// "no agents" would wipe the last-known copy.
				return nil, fmt.Errorf("no list of objects found in an object with keys %s", keysOf(obj))
			}
			next = list
		}
		v = next
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("no list of objects found")
	}
	out := make([]map[string]any, 0, len(arr))
	for _, e := range arr {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out, nil
}

func keysOf(m map[string]any) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ", ")
}

// intOf reads the first of keys that holds an integer (number or numeric
// string).
func intOf(m map[string]any, keys ...string) int64 {
	for _, k := range keys {
		switch v := m[k].(type) {
		case json.Number:
			if n, err := v.Int64(); err == nil {
				return n
			}
			if f, err := v.Float64(); err == nil {
				return int64(f)
			}
		case string:
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return n
			}
		}
	}
	return 0
}

func strOf(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := m[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// ParseAgents reads routingAvailability's answer: each agent's ID, name
// and skills. Presence in it is ignored: while the edge routes, the edge's
// presence is the truth and central follows it.
func ParseAgents(raw []byte) (agents []model.Agent, skipped int, err error) {
	els, err := elements(raw)
	if err != nil {
		return nil, 0, fmt.Errorf("routingAvailability: %w", err)
	}
	for _, e := range els {
		id := intOf(e, "userId", "id", "agentId")
		if id <= 0 {
			skipped++
			continue
		}
		name := strOf(e, "name", "displayName", "userName", "fullName")
		if name == "" {
			name = strings.TrimSpace(strOf(e, "firstName", "firstname") + " " + strOf(e, "lastName", "lastname"))
		}
		if len(name) > 256 {
			name = name[:256]
		}
		agents = append(agents, model.Agent{ID: id, Name: name, SkillTagIDs: skillsOf(e)})
	}
	return agents, skipped, nil
}

func skillsOf(e map[string]any) []int64 {
	out := []int64{}
	for _, k := range []string{"skillTagIds", "skills", "tagIds", "tags"} {
		list, ok := e[k].([]any)
		if !ok {
			continue
		}
		for _, s := range list {
			var id int64
			switch v := s.(type) {
			case map[string]any:
				id = intOf(v, "id", "tagId", "skillId")
			default:
				id = intOf(map[string]any{"v": v}, "v")
			}
			if id > 0 {
				out = append(out, id)
			}
		}
		return out
	}
	return out
}

// ParseLines reads settings/subchannel's answer: the phone lines with the
// ACD settings the edge applies (acdRingTimeSeconds, acdAcwSeconds and a
// skill tag when the line names one). Subchannels of other channels are
// left out.
func ParseLines(raw []byte) (lines []model.Line, skipped int, err error) {
	els, err := elements(raw)
	if err != nil {
		return nil, 0, fmt.Errorf("settings/subchannel: %w", err)
	}
	for _, e := range els {
		if ch := strOf(e, "channel", "channelType"); ch != "" && ch != "phone" {
			continue
		}
		id := intOf(e, "id", "subchannelId")
		if id <= 0 {
			skipped++
			continue
		}
		settings := e
		switch s := e["settings"].(type) {
		case map[string]any:
			settings = merged(e, s)
		case string:
			var m map[string]any
			dec := json.NewDecoder(strings.NewReader(s))
			dec.UseNumber()
			if dec.Decode(&m) == nil {
				settings = merged(e, m)
			}
		}
		l := model.Line{ID: id, Name: strOf(e, "name", "label"),
			RingTimeSeconds: intOf(settings, "acdRingTimeSeconds"),
			ACWSeconds:      intOf(settings, "acdAcwSeconds"),
			TagID:           intOf(settings, "primaryTagId", "acdTagId", "tagId", "skillTagId")}
		if l.RingTimeSeconds < 0 || l.RingTimeSeconds > 600 {
			l.RingTimeSeconds = 0 // out of routing.ring_timeout's range: keep the config's
		}
		if l.ACWSeconds < 0 || l.ACWSeconds > 3600 {
			l.ACWSeconds = 0
		}
		lines = append(lines, l)
	}
	return lines, skipped, nil
}

// merged is e with the keys of s over it.
func merged(e, s map[string]any) map[string]any {
	m := make(map[string]any, len(e)+len(s))
	for k, v := range e {
		m[k] = v
	}
	for k, v := range s {
		m[k] = v
	}
	return m
}
