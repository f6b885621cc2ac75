package pbxscript

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/enneo-edge/enneo-edge/internal/edgetest"
)

// recorder is a Sender that answers like an edge that offers a native
// call on the second getRouting, and records what the script sent.
type recorder struct {
	sent  []string // "METHOD path body"
	polls int
	noID  bool // callReceived answers without a ticketId
}

func (r *recorder) send(method, path, body string) edgetest.Answer {
	r.sent = append(r.sent, method+" "+path+" "+body)
	a := edgetest.Answer{Code: 200, Body: map[string]any{}}
	switch {
	case strings.HasSuffix(path, "/callReceived") && !r.noID:
		a.Body["ticketId"] = "41"
	case strings.Contains(path, "/getRouting"):
		if r.polls++; r.polls >= 2 {
			a.Body["status"], a.Body["assignedUserId"] = "assigned", "7"
		}
	}
	return a
}

// paths is the sequence of request paths without the query.
func (r *recorder) paths() []string {
	var p []string
	for _, s := range r.sent {
		f := strings.Fields(s)[1]
		f, _, _ = strings.Cut(f, "?")
		p = append(p, f[strings.LastIndex(f, "/")+1:])
	}
	return p
}

// TestCallSendsEachKindsFollowUps: every kind's requests in order, with
// the ticket and agent the edge gave, match what central must apply.
func TestCallSendsEachKindsFollowUps(t *testing.T) {
	for i := range int(NumKinds) {
		r := &recorder{}
		var acked []string
		s := New(t, r.send, OwnAgent(2), func(ch string, kind Kind, ticket int64) {
			acked = append(acked, fmt.Sprintf("%s %d %d", ch, kind, ticket))
		})
		s.Call(i)
		kind := KindOf(i)
		var want []string
		for _, step := range kind.Applied() {
			if step == "agentConnected" && kind == NativeRouted {
				want = append(want, "getRouting", "getRouting")
			}
			want = append(want, step)
		}
		if got := r.paths(); !slices.Equal(got, want) {
			t.Errorf("kind %d: sent %v, want %v", kind, got, want)
		}
		if !slices.Equal(acked, []string{fmt.Sprintf("c-%d %d 41", i, kind)}) {
			t.Errorf("kind %d: acked %v", kind, acked)
		}
		if !strings.Contains(r.sent[0], fmt.Sprintf(`"channelId":"c-%d"`, i)) {
			t.Errorf("kind %d: callReceived %s", kind, r.sent[0])
		}
		switch kind {
		case NativeRouted:
			if c := r.sent[3]; !strings.Contains(c, `{"userId":7,"ticketId":41}`) {
				t.Errorf("agentConnected %s, want the offered agent 7 on ticket 41", c)
			}
		case External:
			if c := r.sent[1]; !strings.Contains(c, fmt.Sprintf(`{"userId":%d,"channelId":"c-%d"}`, OwnAgent(2), i)) {
				t.Errorf("agentConnected %s, want the worker's own agent", c)
			}
		}
	}
}

// failures is a testing.TB that records Errorf instead of failing.
type failures struct {
	testing.TB
	errs []string
}

func (f *failures) Helper() {}
func (f *failures) Errorf(format string, args ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

// TestCallWithoutTicketFails: an acknowledgement without a ticketId is an
// error and no follow-up goes out for it.
func TestCallWithoutTicketFails(t *testing.T) {
	f := &failures{TB: t}
	r := &recorder{noID: true}
	New(f, r.send, OwnAgent(0), func(string, Kind, int64) { t.Error("acked a call without a ticket") }).Call(0)
	if len(f.errs) != 1 || !strings.Contains(f.errs[0], "no ticketId") {
		t.Errorf("errors %q, want one about the missing ticketId", f.errs)
	}
	if len(r.sent) != 1 {
		t.Errorf("sent %v after an answer without a ticket", r.sent)
	}
}

// TestIdentifiedPhones: the calls said to come from a customer use that
// customer's stored phone, the others a number nobody has.
func TestIdentifiedPhones(t *testing.T) {
	found := 0
	for i := range 200 {
		id := Identified(i)
		p := phone(i)
		if id == "" {
			if strings.HasPrefix(p, "+49301110000") {
				t.Errorf("call %d: unknown caller with a customer's phone %s", i, p)
			}
			continue
		}
		found++
		if KindOf(i) != None {
			t.Errorf("call %d of kind %d identified", i, KindOf(i))
		}
		var n int
		fmt.Sscan(id, &n)
		if want := fmt.Sprintf("+49301110000%d", n-9001); p != want || n < 9001 || n >= 9001+Customers {
			t.Errorf("call %d: customer %s with phone %s, want %s", i, id, p, want)
		}
	}
	if found == 0 {
		t.Error("no call from a known customer")
	}
}
