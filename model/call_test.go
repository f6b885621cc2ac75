package model

import (
	stdjson "encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDecodeCall(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Call
	}{
		{"defaults", `{}`, Call{Routing: "none", Direction: "in", Status: "closed"}},
		{"native defaults", `{"routing":"native"}`, Call{Routing: "native", Direction: "in", Status: "open", TriggerAIProcessing: true}},
		{"ids as numbers", `{"contractId":123456,"customerId":789012}`, Call{Routing: "none", Direction: "in", Status: "closed", ContractID: "123456", CustomerID: "789012"}},
		{"ids as strings, trimmed", `{"contractId":" K-1 ","customerId":"C 9"}`, Call{Routing: "none", Direction: "in", Status: "closed", ContractID: "K-1", CustomerID: "C 9"}},
		{"escapes and unicode", `{"callerName":"J\u00fcrgen \"J\" M\u00fcller \ud83d\ude00"}`, Call{Routing: "none", Direction: "in", Status: "closed", CallerName: "Jürgen \"J\" Müller 😀"}},
		{"aiAgentId ignored inbound", `{"aiAgentId":5}`, Call{Routing: "none", Direction: "in", Status: "closed"}},
		{"aiAgentId kept outbound", `{"direction":"out","to":"1","aiAgentId":5}`, Call{Routing: "none", Direction: "out", Status: "closed", To: "1", AIAgentID: 5}},
		{"bot is agent", `{"transcript":[{"speaker":"bot","message":"hi","timestamp":null}]}`, Call{Routing: "none", Direction: "in", Status: "closed", Transcript: []TranscriptEntry{{Speaker: "agent", Message: "hi"}}}},
		{"duplicate key: last wins", `{"routing":"native","routing":"external"}`, Call{Routing: "external", Direction: "in", Status: "open", TriggerAIProcessing: true}},
		{"unknown nested", `{"x":{"y":[1,-2.5e3,true,false,null,"s",{"z":{}}]},"channelId":"c"}`, Call{Routing: "none", Direction: "in", Status: "closed", ChannelID: "c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeCall([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			g, _ := stdjson.Marshal(got)
			w, _ := stdjson.Marshal(tc.want)
			if string(g) != string(w) {
				t.Fatalf("got  %s\nwant %s", g, w)
			}
		})
	}
}

func TestDecodeCallErrorsAreFieldErrors(t *testing.T) {
	for _, body := range []string{`{"agentId":"x"}`, `{`, `[]`, `{"transcript":[{}]}`, "{\"a\":\"\xff\"}"} {
		_, err := DecodeCall([]byte(body))
		var fe *FieldError
		if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) || fe.Field == "" {
			t.Errorf("%s: %v is not a FieldError wrapping ErrInvalid", body, err)
		}
	}
}

func TestDecodeCallOwnsItsMemory(t *testing.T) {
	body := []byte(`{"channelId":"abc","phone":"+49301","transcript":[{"speaker":"customer","message":"hello"}]}`)
	c, err := DecodeCall(body)
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 'X' // fasthttp reuses its buffer after the handler
	}
	if c.ChannelID != "abc" || c.Phone != "+49301" || c.Transcript[0].Message != "hello" {
		t.Fatalf("decoded values alias the request buffer: %+v", c)
	}
}

func TestCallAnswerJSON(t *testing.T) {
	a := CallAnswer{TicketID: 1000100000000001, CustomerID: "C<1>\"\n", IOResponse: "None, as routing is not external", QueueID: 7}
	b := a.AppendJSON(nil)
	var v map[string]any
	if err := stdjson.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if v["customerId"] != "C<1>\"\n" || v["contractId"] != nil || v["queueId"].(float64) != 7 || v["success"] != true {
		t.Fatalf("%s", b)
	}
	a.QueueID = 0
	if strings.Contains(string(a.AppendJSON(nil)), "queueId") {
		t.Fatal("queueId written for non-native answer")
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "ctl\x00\x1f\t\r\n", "<&>", "ü😀", "bad\xffutf8", "\u2028\u2029"} {
		var back string
		if err := stdjson.Unmarshal(AppendString(nil, s), &back); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); back != want {
			t.Errorf("%q round-trips to %q", s, back)
		}
	}
}

// Every speaker of the table decodes to itself (the decoder spells them
// out to avoid an allocation per entry), and bot to agent.
func TestDecodeCallSpeakers(t *testing.T) {
	want := map[string]string{"bot": "agent"}
	for name, sp := range speakers {
		if sp.Name != name {
			t.Errorf("speakers[%q].Name = %q", name, sp.Name)
		}
		want[name] = name
	}
	for in, out := range want {
		c, err := DecodeCall([]byte(`{"transcript":[{"speaker":"` + in + `","message":"m"}]}`))
		if err != nil || len(c.Transcript) != 1 || c.Transcript[0].Speaker != out {
			t.Errorf("speaker %q: %+v %v, want %q", in, c.Transcript, err, out)
		}
	}
}

func TestCustomerNumber(t *testing.T) {
	in := Call{Direction: DirectionIn, Phone: "+4930111", To: "+4930999"}
	out := Call{Direction: DirectionOut, Phone: "+4930111", To: "+4930999"}
	if in.CustomerNumber() != "+4930111" || out.CustomerNumber() != "+4930999" {
		t.Fatalf("inbound %q, outbound %q", in.CustomerNumber(), out.CustomerNumber())
	}
}
