package upstream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	json "github.com/goccy/go-json"

	"github.com/enneo-edge/enneo-edge/db"
)

// lookupState is what a lookup learned about a record at central.
type lookupState int

const (
	absent  lookupState = iota // central does not have it: send it
	found                      // central has it: mark it delivered, send nothing
	unknown                    // no usable answer: ask again later, send nothing
)

type lookupResult struct {
	state     lookupState
	centralID int64  // callReceived found: central's ticket ID
	res       result // unknown: why, sorted like an attempt
}

// queueEntry is the part of getRouting's answer (a bare QueueEntry, no
// success wrapper) a lookup reads.
type queueEntry struct {
	ID             json.Number `json:"id"`
	TicketID       json.Number `json:"ticketId"`
	Status         string      `json:"status"`
	AssignedUserID json.Number `json:"assignedUserId"`
	CompletedAt    *string     `json:"completedAt"`
}

// lookup asks central whether it applied rd already, with the one read
// the telephony API offers for a call: GET /telephony/getRouting, the
// queue entry of a ticket. A callReceived is looked up by its channelId
// (every forwarded call carries one; the edge makes one when the PBX gave
// none), a follow-up by its central ticket ID: agentConnected has applied
// when the entry is assigned to its agent, callCompleted when the entry is
// completed. A 404 means central has no such entry: not applied. A 400 or
// 422 means central does not support the lookup; the record is then sent
// again with the same Idempotency-Key and channelId, which is all the
// protection such a central allows.
func (f *Forwarder) lookup(ctx context.Context, rd db.Ready) lookupResult {
	r := rd.Record
	q := url.Values{}
	switch r.Kind {
	case db.KindCallReceived:
		ch, err := bodyChannelID(r.Body)
		if err != nil || ch == "" {
			return lookupResult{state: absent}
		}
		q.Set("channelId", ch)
	case db.KindAgentConnected, db.KindCallCompleted:
		q.Set("ticketId", strconv.FormatInt(rd.CentralID, 10))
	default:
		return lookupResult{state: absent}
	}
	f.mu.Lock()
	f.st.lookups++
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, f.opt.Timeout)
	defer cancel()
	req, err := f.newRequest(ctx, http.MethodGet, "/telephony/getRouting?"+q.Encode(), nil)
	if err != nil {
		return lookupResult{state: unknown, res: result{outcome: retry, ambiguous: true, err: err}}
	}
	resp, _, err := f.do(req)
	if err != nil {
		return lookupResult{state: unknown, res: result{outcome: retry, ambiguous: true,
			err: fmt.Errorf("look up %s: %w", r.Kind, unwrapURL(err))}}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	switch {
	case err != nil:
		return lookupResult{state: unknown, res: result{outcome: retry, ambiguous: true, status: resp.StatusCode,
			err: fmt.Errorf("look up %s: read answer: %w", r.Kind, err)}}
	case resp.StatusCode == http.StatusNotFound && json.Valid(raw) && len(raw) > 0 && raw[0] == '{':
		// central's own "no such entry" (a JSON error body)
		return lookupResult{state: absent}
	case resp.StatusCode == http.StatusNotFound:
		// Not central's answer (a proxy's page, a wrong path): nothing
		// learned.
		return lookupResult{state: unknown, res: result{outcome: retry, ambiguous: true, status: resp.StatusCode,
			err: fmt.Errorf("look up %s: 404 that is not central's JSON: %s", r.Kind, oneLine(string(raw), 200))}}
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnprocessableEntity:
		f.log.Warn("outbox: central cannot look up records (getRouting refused the query); re-sending with the same Idempotency-Key",
			"seq", r.Seq, "kind", r.Kind, "status", resp.StatusCode, "answer", oneLine(string(raw), 200))
		return lookupResult{state: absent}
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		res := result{outcome: classify(resp.StatusCode), status: resp.StatusCode, body: string(raw), ambiguous: true,
			retryAfter: retryAfter(resp.Header.Get("Retry-After"), f.clock.Now())}
		if res.outcome == refused {
			res.outcome = retry // the record was not refused, the lookup was
		}
		res.err = fmt.Errorf("look up %s: central answered %d: %s", r.Kind, resp.StatusCode, oneLine(string(raw), 200))
		return lookupResult{state: unknown, res: res}
	}
	var e queueEntry
	if err := json.Unmarshal(raw, &e); err != nil || (e.TicketID == "" && e.ID == "" && e.Status == "") {
		// Only a queue entry tells; anything else (a wrapper this parser
		// does not know, null, an error in a 200) leaves it open, and
		// nothing is sent on a guess.
		return lookupResult{state: unknown, res: result{outcome: retry, ambiguous: true, status: resp.StatusCode,
			err: fmt.Errorf("look up %s: answer is not a queue entry: %s", r.Kind, oneLine(string(raw), 200))}}
	}
	lk := lookupResult{state: absent}
	switch r.Kind {
	case db.KindCallReceived:
		if id, err := e.TicketID.Int64(); err == nil && id > 0 {
			lk = lookupResult{state: found, centralID: id}
		}
	case db.KindAgentConnected:
		user, _ := bodyUserID(r.Body)
		assigned, _ := e.AssignedUserID.Int64()
		switch e.Status {
		case "assigned", "currentlyProcessed", "completed":
			if user != 0 && assigned == user {
				lk.state = found
			}
		}
	case db.KindCallCompleted:
		if e.Status == "completed" || e.CompletedAt != nil {
			lk.state = found
		}
	}
	if lk.state == found {
		f.mu.Lock()
		f.st.found++
		f.mu.Unlock()
	}
	return lk
}

func bodyChannelID(body []byte) (string, error) {
	var b struct {
		ChannelID string `json:"channelId"`
	}
	err := json.Unmarshal(body, &b)
	return b.ChannelID, err
}

func bodyUserID(body []byte) (int64, error) {
	var b struct {
		UserID int64 `json:"userId"`
	}
	err := json.Unmarshal(body, &b)
	return b.UserID, err
}
