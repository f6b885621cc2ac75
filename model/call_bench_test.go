package model

import "testing"

// Bodies the benchmarks decode: the shapes a PBX sends most.
var benchBodies = []struct{ name, body string }{
	{"inbound-transcript", `{"routing":"external","direction":"in","phone":"+49 171 1234567","callerName":"Erika Mustermann","subchannelId":2,"triggerAiProcessing":true,"channelId":"bench-123456789","transcript":[{"speaker":"agent","message":"Guten Tag, Sie sprechen mit dem digitalen Assistenten. Worum geht es?","timestamp":"2026-11-25T09:00:00Z"},{"speaker":"customer","message":"Meine Abschlagszahlung ist zu hoch, Vertragsnummer 123456.","timestamp":"2026-11-25T09:00:04Z"},{"speaker":"bot","message":"Ich verbinde Sie mit einer Kollegin.","timestamp":"2026-11-25T09:00:09Z"}]}`},
	{"inbound-native", `{"routing":"native","direction":"in","phone":"+49 171 1234567","subchannelId":2,"channelId":"bench-123456789"}`},
	{"outbound", `{"routing":"none","direction":"out","to":"+49 171 1234567","agentId":17,"triggeredBy":17,"channelId":"bench-123456789"}`},
}

func BenchmarkDecodeCall(b *testing.B) {
	for _, bb := range benchBodies {
		b.Run(bb.name, func(b *testing.B) {
			body := []byte(bb.body)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeCall(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkValidate measures the rejection path: bad input must be cheap
// to refuse, not only good input cheap to accept.
func BenchmarkValidate(b *testing.B) {
	bad := []struct{ name, body, err string }{
		{"bad-enum", `{"routing":"sideways","phone":"+49 171 1234567"}`, "routing"},
		{"out-without-to", `{"direction":"out","agentId":17}`, "to"},
		{"wrong-type", `{"routing":"native","subchannelId":"two"}`, "subchannelId"},
	}
	for _, bb := range bad {
		b.Run(bb.name, func(b *testing.B) {
			body := []byte(bb.body)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeCall(body); err == nil {
					b.Fatal("accepted bad input")
				}
			}
		})
	}
}

func BenchmarkAnswerAppendJSON(b *testing.B) {
	a := CallAnswer{TicketID: 1000100000000001, CustomerID: "4711", ContractID: "C-1", IOResponse: "None, as routing is not external", QueueID: 1000100000000001}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = a.AppendJSON(buf[:0])
	}
}
