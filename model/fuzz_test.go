package model

import (
	stdjson "encoding/json"
	"errors"
	"testing"
)

// FuzzDecodeCall: no input panics, every input is either a valid call or a
// FieldError (a 400), and the scanner never accepts what is not JSON.
func FuzzDecodeCall(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"routing":"native","phone":"+491711234567","channelId":"c1"}`,
		`{"direction":"out","to":"+4930","agentId":1,"aiAgentId":2,"triggeredBy":3}`,
		`{"contractId":123,"customerId":"x","transcript":[{"speaker":"bot","message":"m","timestamp":"2024-01-23T14:32:11Z"}]}`,
		`{"x":[{"y":[1,2.5e-3,"\u00fc\ud83d\ude00",null,true]}]}`, `{"agentId":123456789012345678901234567890}`,
		`[]`, `null`, `{"a":"\x"}`, `{"routing":null,"status":"pending","triggerAiProcessing":false}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := DecodeCall(body)
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
		if c.Routing == "" || c.Direction == "" || c.Status == "" {
			t.Fatalf("defaults missing: %+v", c)
		}
		if c.Direction == DirectionOut && c.To == "" {
			t.Fatal("outbound call without to accepted")
		}
		for _, e := range c.Transcript {
			if _, ok := speakers[e.Speaker]; !ok {
				t.Fatalf("unmapped speaker %q", e.Speaker)
			}
		}
		a := CallAnswer{TicketID: 1, ContractID: c.ContractID, CustomerID: c.CustomerID, IOResponse: c.CallerName}
		if out := a.AppendJSON(nil); !stdjson.Valid(out) {
			t.Fatalf("answer is not JSON: %q", out)
		}
	})
}
