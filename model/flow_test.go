package model

import (
	stdjson "encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestDecodeCallCompleted(t *testing.T) {
	c, err := DecodeCallCompleted([]byte(`{"channelId":" c1 ","ticketId":9,"transcript":[{"speaker":"bot","message":"Hallo"}],` +
		`"duration":300,"botDurationSeconds":45,"queueDurationSeconds":30,"humanDurationSeconds":225,"future":{"x":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Durations()
	if c.ChannelID != "c1" || c.TicketID != 9 || len(c.Transcript) != 1 || c.Transcript[0].Speaker != "agent" ||
		*d.TotalSeconds != 300 || *d.BotSeconds != 45 || *d.QueueSeconds != 30 || *d.HumanSeconds != 225 {
		t.Fatalf("decoded %+v durations %+v", c, d)
	}
	c, err = DecodeCallCompleted([]byte(`{"channelId":"c1","transcript":[],"duration":10,"totalDurationSeconds":0}`))
	if err != nil || *c.Durations().TotalSeconds != 0 || c.Transcript == nil {
		t.Fatalf("totalDurationSeconds 0 must win over duration: %+v %v", c, err)
	}
	// The forwarded body keeps what the PBX sent, deprecated duration too.
	b, _ := stdjson.Marshal(c)
	if !strings.Contains(string(b), `"duration":10`) || !strings.Contains(string(b), `"transcript":[]`) || strings.Contains(string(b), "botDuration") {
		t.Errorf("forwarded body %s", b)
	}
}

func TestDecodeAgentAndPresence(t *testing.T) {
	a, err := DecodeAgent([]byte(`{"name":" Ada ","skillTagIds":[46,47],"rawData":{"sip":"200","nested":[1,{"a":null}]}}`))
	if err != nil || a.Name != "Ada" || !slices.Equal(a.SkillTagIDs, []int64{46, 47}) || string(a.RawData) != `{"sip":"200","nested":[1,{"a":null}]}` {
		t.Fatalf("agent %+v %v (rawData %s)", a, err, a.RawData)
	}
	a, err = DecodeAgent([]byte(`{}`))
	if err != nil || a.SkillTagIDs == nil || a.RawData != nil {
		t.Fatalf("empty agent %+v %v", a, err)
	}
	c, err := DecodeRoutingStatus([]byte(`{"callRoutingStatus":"acw","chatRoutingStatus":null,"ifCurrent":"interacting"}`))
	if err != nil || c != (RoutingStatusChange{CallRoutingStatus: "acw", IfCurrent: "interacting"}) {
		t.Fatalf("routing status %+v %v", c, err)
	}
	ac, err := DecodeAgentConnected([]byte(`{"userId":42,"channelId":"call_123abc456"}`))
	if err != nil || ac != (AgentConnected{UserID: 42, ChannelID: "call_123abc456"}) {
		t.Fatalf("agentConnected %+v %v", ac, err)
	}
}

// FuzzDecodeFlow: the follow-up decoders never panic, answer a FieldError
// or a value, and never accept what is not JSON.
func FuzzDecodeFlow(f *testing.F) {
	for _, s := range []string{
		`{"userId":42,"ticketId":123}`, `{"channelId":"c","transcript":[{"speaker":"agent","message":"m"}],"duration":3}`,
		`{"callRoutingStatus":"idle","ifCurrent":"offline"}`, `{"name":"a","skillTagIds":[1,2],"rawData":{"x":[1]}}`,
		`[]`, `null`, `{"transcript":null}`, `{"skillTagIds":[0]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(err error) {
			t.Helper()
			if err != nil {
				var fe *FieldError
				if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("error %v is not a FieldError", err)
				}
				return
			}
			if !stdjson.Valid(body) {
				t.Fatalf("accepted invalid JSON %q", body)
			}
		}
		ac, err := DecodeAgentConnected(body)
		check(err)
		if err == nil && (ac.UserID <= 0 || (ac.TicketID == 0 && ac.ChannelID == "")) {
			t.Fatalf("accepted %+v", ac)
		}
		cc, err := DecodeCallCompleted(body)
		check(err)
		if err == nil && (cc.ChannelID == "" || cc.Transcript == nil) {
			t.Fatalf("accepted %+v", cc)
		}
		_, err = DecodeRoutingStatus(body)
		check(err)
		a, err := DecodeAgent(body)
		check(err)
		if err == nil && a.RawData != nil && !stdjson.Valid(a.RawData) {
			t.Fatalf("rawData %q is not JSON", a.RawData)
		}
	})
}
