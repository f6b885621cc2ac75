package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"

	"github.com/enneo-edge/enneo-edge/db"
)

// maxAnswerBytes bounds how much of central's answer is read: a ticket ID
// or an error text, never a page worth keeping.
const maxAnswerBytes = 64 << 10

// outcome sorts central's answers into what the forwarder does next.
type outcome int

const (
	delivered outcome = iota // 2xx: mark delivered
	retry                    // network error, timeout, 408/425/429/5xx: try again later, forever
	refused                  // other 4xx: dead-letter after MaxAttempts
	pause                    // 401/403 (and redirects): the whole queue waits, nothing is dead-lettered
)

func (o outcome) String() string {
	return [...]string{"delivered", "retry", "refused", "paused"}[o]
}

// classify maps an HTTP status to an outcome. 401/403 are about the edge's
// credentials, not the record: dead-lettering would bury the whole backlog
// under one expired token. A redirect means upstream.url is wrong, which
// is also not the record's fault.
func classify(status int) outcome {
	switch {
	case status >= 200 && status < 300:
		return delivered
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return pause
	case status >= 300 && status < 400:
		return pause
	case status == http.StatusRequestTimeout, status == http.StatusTooEarly,
		status == http.StatusTooManyRequests, status >= 500:
		return retry
	case status >= 400:
		return refused
	default: // 1xx reaching us is a broken upstream; try again later
		return retry
	}
}

// result is one attempt at a record.
type result struct {
	outcome    outcome
	status     int           // 0 when no answer arrived
	centralID  int64         // callReceived: the ticket ID central answered
	body       string        // start of central's answer, for dead letters and logs
	err        error         // transport error or why the answer was unusable
	retryAfter time.Duration // from a Retry-After header, 0 when none
	// ambiguous: central may have applied the request although the edge
	// did not learn it did (written, then timeout, reset or 5xx).
	ambiguous bool
	// final: dead-letter at once, never send again.
	final bool
}

func (r result) describe() string {
	switch {
	case r.err != nil && r.status != 0:
		return fmt.Sprintf("central answered %d: %v", r.status, r.err)
	case r.err != nil:
		return r.err.Error()
	default:
		return fmt.Sprintf("central answered %d: %s", r.status, oneLine(r.body, 300))
	}
}

// request builds the HTTP request for a record: callReceived, agentConnected
// and callCompleted are POSTed to /telephony/<kind>, routingStatus is
// PATCHed to /profile/{userId}/routingStatus. Follow-ups name the ticket by
// its central ID.
func (f *Forwarder) request(ctx context.Context, rd db.Ready) (*http.Request, error) {
	r := rd.Record
	method, path, body := http.MethodPost, "/telephony/"+r.Kind, []byte(r.Body)
	switch r.Kind {
	case db.KindCallReceived:
	case db.KindAgentConnected, db.KindCallCompleted:
		var err error
		if body, err = withTicketID(r.Body, rd.CentralID); err != nil {
			return nil, err
		}
	case db.KindRoutingStatus:
		method, path = http.MethodPatch, "/profile/"+strconv.FormatInt(r.UserID, 10)+"/routingStatus"
	default:
		return nil, fmt.Errorf("unknown record kind %q", r.Kind)
	}
	req, err := f.newRequest(ctx, method, path, body)
	if err != nil {
		return nil, fmt.Errorf("build request for record %d: %w", r.Seq, err)
	}
	req.Header.Set("Content-Type", "application/json")
	// One key per record, the same on every attempt: a central that honours
	// draft-ietf-httpapi-idempotency-key-header recognises a re-send; one
	// that does not is protected by the lookup before it.
	req.Header.Set("Idempotency-Key", IdempotencyKey(r))
	return req, nil
}

// IdempotencyKey is the Idempotency-Key sent with every attempt at r:
// unique per record of this appliance (seq) and per site (the ticket IDs
// carry site.id).
func IdempotencyKey(r db.OutboxRecord) string {
	id := db.RecordTicket(r)
	if r.Kind == db.KindRoutingStatus {
		id = r.UserID
	}
	return fmt.Sprintf("enneo-edge-%s-%d-%d", r.Kind, id, r.Seq)
}

// newRequest builds a request to central with the configured credentials.
// It is never replayed by the transport: net/http re-sends a request with
// a body on a fresh connection after some connection failures when it
// looks idempotent (an Idempotency-Key header makes it so), and a central
// that does not deduplicate would then hold it twice without the edge
// knowing. Only the forwarder decides about a second attempt, after a
// lookup.
func (f *Forwarder) newRequest(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	return newRequest(ctx, &f.opt, method, path, body)
}

func newRequest(ctx context.Context, o *Options, method, path string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, o.URL+path, rd)
	if err != nil {
		return nil, err
	}
	req.GetBody = nil
	if o.Auth == AuthBearer || o.Auth == AuthBoth {
		req.Header.Set("Authorization", "Bearer "+o.Token)
	}
	if o.Auth == AuthInternal || o.Auth == AuthBoth {
		req.Header.Set("x-internal-communication-token", o.InternalToken)
	}
	req.Header.Set("User-Agent", "enneo-edge")
	return req, nil
}

// withTicketID returns body with "ticketId" set to the central ID: central
// has never heard of the edge's local ticket IDs.
func withTicketID(body []byte, central int64) ([]byte, error) {
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("record body is not a JSON object: %w", err)
	}
	m["ticketId"] = json.RawMessage(strconv.FormatInt(central, 10))
	return json.Marshal(m)
}

// send makes one attempt at a record and sorts the answer.
func (f *Forwarder) send(ctx context.Context, rd db.Ready) result {
	ctx, cancel := context.WithTimeout(ctx, f.opt.Timeout)
	defer cancel()
	req, err := f.request(ctx, rd)
	if err != nil {
		return result{outcome: refused, err: err}
	}
	resp, wrote, err := f.do(req)
	if err != nil {
		// Once the request was written, central may have committed it: the
		// next attempt looks it up first.
		return result{outcome: retry, ambiguous: wrote, err: fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, unwrapURL(err))}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	res := result{outcome: classify(resp.StatusCode), status: resp.StatusCode, body: string(raw),
		retryAfter: retryAfter(resp.Header.Get("Retry-After"), f.clock.Now()),
		// A 5xx may come after central committed (a crash or a proxy's
		// timeout behind it).
		ambiguous: resp.StatusCode >= 500}
	if err != nil && res.outcome == delivered {
		// Cut off mid-answer: we cannot know the central ID.
		return result{outcome: retry, ambiguous: true, status: resp.StatusCode, err: fmt.Errorf("read answer: %w", err)}
	}
	if res.outcome == pause && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		res.err = fmt.Errorf("redirect to %q: check upstream.url", resp.Header.Get("Location"))
	}
	if res.outcome == delivered && rd.Record.Kind == db.KindCallReceived {
		var a struct {
			TicketID json.Number `json:"ticketId"`
		}
		id, perr := int64(0), json.Unmarshal(raw, &a)
		if perr == nil {
			id, perr = a.TicketID.Int64()
		}
		if perr != nil || id <= 0 {
			// Central took the call but did not say which ticket it is:
			// follow-ups could not name it. An operator must look.
			// Central committed it (a 2xx) but did not say as which ticket:
			// sending it again would make a second one. An operator looks
			// it up; a retry of the dead letter asks central first.
			res.outcome, res.final, res.ambiguous = refused, true, true
			res.err = fmt.Errorf("central accepted it without a ticketId (not sent again; retrying the dead letter looks it up first): %s", oneLine(string(raw), 200))
		}
		res.centralID = id
	}
	return res
}

// do sends req and tells whether the whole request was written, which is
// when central may have acted on it.
func (f *Forwarder) do(req *http.Request) (*http.Response, bool, error) {
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) {
		// Also after a failed write: part of it may have arrived, and
		// central cannot act on half a request, but a whole one whose
		// write error came late it can.
		wrote.Store(true)
	}}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := f.client.Do(req)
	if f.opt.OnAnswer != nil {
		code := 0
		if err == nil {
			code = resp.StatusCode
		}
		f.opt.OnAnswer(code)
	}
	return resp, wrote.Load(), err
}

// unwrapURL drops net/http's "Post \"url\":" prefix: the path is already
// named, and the base URL is in the config.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
