package cluster

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/fakecentral"
	"github.com/enneo-edge/enneo-edge/internal/pbxscript"
)

func num(v any) int64 { return fakecentral.Num(v) }

// verifyTickets reads every acknowledged ticket from every running node:
// each must have it with the channelId it was acknowledged for, and the
// same content on all of them (once nothing changes any more: after
// settle).
func (c *cluster) verifyTickets(ack *acked) { c.t.Helper(); c.readTickets(ack, true) }

// presentEverywhere is verifyTickets while the cluster still works on the
// tickets (the forwarder records central's IDs): the same ID and channelId
// on every running node, the content not compared.
func (c *cluster) presentEverywhere(ack *acked) { c.t.Helper(); c.readTickets(ack, false) }

func (c *cluster) readTickets(ack *acked, same bool) {
	c.t.Helper()
	ack.mu.Lock()
	defer ack.mu.Unlock()
	for ch, id := range ack.tickets {
		var first json.RawMessage
		var firstNode string
		for _, n := range c.nodes {
			if !n.running() {
				continue
			}
			raw, got := n.ticketOn(c.t, id)
			if got != ch {
				c.t.Errorf("ticket %d on %s holds channel %q, acknowledged for %q", id, n.name, got, ch)
				continue
			}
			if first == nil {
				first, firstNode = raw, n.name
			} else if same && !bytes.Equal(first, raw) {
				c.t.Errorf("ticket %d differs:\n%s: %s\n%s: %s", id, firstNode, first, n.name, raw)
			}
		}
	}
}

// verifyCentral checks that the fake central holds one ticket per
// acknowledged call with every follow-up applied once and in order, routed
// none of the native calls itself, and ends with the cluster's presence of
// every agent.
func (c *cluster) verifyCentral(ack *acked, p pbx) {
	c.t.Helper()
	snap := c.central.Snapshot()
	ack.mu.Lock()
	defer ack.mu.Unlock()
	if snap.Routed != 0 {
		c.t.Errorf("central routed %d calls the cluster had routed", snap.Routed)
	}
	for _, b := range snap.Bad {
		c.t.Error("central:", b)
	}
	if len(snap.ByChannel) != len(ack.tickets) {
		c.t.Errorf("central holds %d channels, %d calls were acknowledged", len(snap.ByChannel), len(ack.tickets))
	}
	for ch, kind := range ack.kinds {
		tks := snap.ByChannel[ch]
		if len(tks) != 1 {
			c.t.Errorf("channel %s (kind %d): %d tickets at central", ch, kind, len(tks))
			continue
		}
		if got := tks[0].Applied; !slices.Equal(got, applied(kind)) {
			c.t.Errorf("channel %s (kind %d): central applied %v, want %v", ch, kind, got, applied(kind))
		}
		if (kind == pbxscript.NativeRouted || kind == pbxscript.NativeDeclined) && tks[0].Body["routing"] != "external" {
			c.t.Errorf("channel %s: native call forwarded as %v", ch, tks[0].Body["routing"])
		}
	}
	for id, st := range pbxscript.Presence(p.get) {
		if snap.Presence[id] != st {
			c.t.Errorf("agent %d: %q at central, %q in the cluster", id, snap.Presence[id], st)
		}
	}
}

// verifyMetrics reads every running member's /metrics once the cluster
// is quiet: exactly one says it leads, each has seen a leader elected,
// applied at least index, and every peer answers (lag not -1).
func (c *cluster) verifyMetrics(index uint64) {
	c.t.Helper()
	leaders := 0
	for _, n := range c.nodes {
		if !n.running() {
			continue
		}
		a := n.must(c.t, "GET", "/metrics", "")
		m := map[string]float64{}
		lags := 0
		for _, line := range strings.Split(string(a.Raw), "\n") {
			name, val, ok := strings.Cut(line, " ")
			if !ok || !strings.HasPrefix(name, "edge_cluster_") {
				continue
			}
			v, err := strconv.ParseFloat(val, 64)
			if err != nil {
				c.t.Errorf("%s /metrics: %q", n.name, line)
				continue
			}
			if strings.HasPrefix(name, "edge_cluster_peer_lag{") {
				lags++
				if v < 0 {
					c.t.Errorf("%s /metrics: %s: a peer does not answer", n.name, line)
				}
				continue
			}
			m[name] = v
		}
		if m["edge_cluster_role"] == 1 {
			leaders++
		}
		if m["edge_cluster_leader_changes_total"] < 1 || m["edge_cluster_applied_index"] < float64(index) ||
			m["edge_cluster_last_leader_change_timestamp_seconds"] <= 0 || lags != len(c.nodes)-1 {
			c.t.Errorf("%s /metrics: %v and %d peer lags, want a leader change seen, applied index >= %d, a lag per peer", n.name, m, lags, index)
		}
	}
	if leaders != 1 {
		c.t.Errorf("%d members say they lead (edge_cluster_role 1)", leaders)
	}
}

// exportedTicket is what the export checks read of a ticket.
type exportedTicket struct {
	ID        int64  `json:"id"`
	ChannelID string `json:"channelId"`
	Events    []struct {
		Type string         `json:"type"`
		At   time.Time      `json:"at"`
		Data map[string]any `json:"data"`
	} `json:"events"`
}

// verifyExports compares the stopped nodes' exports (byte for byte: the
// same tickets, the same content, the same order), then checks the one
// export: no channelId has two tickets, every acknowledged call is there
// with its ticket, and no agent was ever offered two calls at once.
func (c *cluster) verifyExports(ack *acked) {
	c.t.Helper()
	all := c.exports()
	for i := 1; i < len(all); i++ {
		if !bytes.Equal(all[0], all[i]) {
			c.t.Errorf("the export of %s differs from %s's (%d and %d bytes): the nodes diverged\n%s",
				c.nodes[i].name, c.nodes[0].name, len(all[i]), len(all[0]), firstDiff(all[0], all[i]))
		}
	}
	var tickets []exportedTicket
	sc := bufio.NewScanner(bytes.NewReader(all[0]))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var tk exportedTicket
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		if err := dec.Decode(&tk); err != nil {
			c.t.Fatalf("export line: %v: %s", err, sc.Bytes())
		}
		tickets = append(tickets, tk)
	}
	byChannel := map[string]int64{}
	for _, tk := range tickets {
		if prev, dup := byChannel[tk.ChannelID]; dup {
			c.t.Errorf("channel %s has two tickets: %d and %d", tk.ChannelID, prev, tk.ID)
		}
		byChannel[tk.ChannelID] = tk.ID
	}
	ack.mu.Lock()
	for ch, id := range ack.tickets {
		if byChannel[ch] != id {
			c.t.Errorf("channel %s: acknowledged ticket %d, the file holds %d", ch, id, byChannel[ch])
		}
	}
	ack.mu.Unlock()
	for _, v := range overlappingOffers(tickets) {
		c.t.Error(v)
	}
}

// offer is an agent holding a call: from the queue entry's change to
// assigned (ringing) or currentlyProcessed (connected) for the agent until
// it leaves them (back to waiting, completed, or another agent).
type offer struct {
	agent, ticket int64
	from, to      time.Time // to is the zero time while it still holds
}

// overlappingOffers reads each ticket's queue history and reports every
// agent who held two calls at once: native routing's promise.
func overlappingOffers(tickets []exportedTicket) []string {
	var offers []offer
	for _, tk := range tickets {
		var cur *offer
		end := func(at time.Time) {
			if cur != nil {
				cur.to = at
				offers = append(offers, *cur)
				cur = nil
			}
		}
		for _, ev := range tk.Events {
			if ev.Type != "queueStatusChanged" {
				continue
			}
			u := num(ev.Data["userId"])
			switch ev.Data["to"] {
			case "assigned", "currentlyProcessed":
				if cur != nil && cur.agent == u {
					continue
				}
				end(ev.At)
				if u != 0 {
					cur = &offer{agent: u, ticket: tk.ID, from: ev.At}
				}
			default:
				end(ev.At)
			}
		}
		if cur != nil {
			offers = append(offers, *cur)
		}
	}
	sort.Slice(offers, func(i, j int) bool {
		if offers[i].agent != offers[j].agent {
			return offers[i].agent < offers[j].agent
		}
		return offers[i].from.Before(offers[j].from)
	})
	var bad []string
	var last offer // the offer of this agent so far that ends last
	for i, o := range offers {
		if i > 0 && last.agent == o.agent && (last.to.IsZero() || o.from.Before(last.to)) {
			bad = append(bad, fmt.Sprintf("agent %d offered ticket %d at %s while holding ticket %d (%s to %s)",
				o.agent, o.ticket, o.from.Format(time.StampMicro), last.ticket, last.from.Format(time.StampMicro), last.to.Format(time.StampMicro)))
		}
		if i == 0 || last.agent != o.agent || o.to.IsZero() || (!last.to.IsZero() && o.to.After(last.to)) {
			last = o
		}
	}
	return bad
}

// firstDiff shows the first differing line of two exports.
func firstDiff(a, b []byte) string {
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := 0; i < len(la) && i < len(lb); i++ {
		if !bytes.Equal(la[i], lb[i]) {
			return fmt.Sprintf("line %d:\n  %s\n  %s", i+1, la[i], lb[i])
		}
	}
	return fmt.Sprintf("one is a prefix of the other (%d and %d lines)", len(la), len(lb))
}
