package db

import (
	"reflect"
	"testing"
	"time"

	json "github.com/goccy/go-json"
)

func TestOutboxRecordEncoding(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 45, 1, 987654321, time.UTC)
	for _, r := range []OutboxRecord{
		{Seq: 1, Kind: KindCallReceived, TicketID: 1_000_100_000_000_001, Body: json.RawMessage(`{"routing":"native","phone":"+49 <&>"}`), CreatedAt: at},
		{Seq: 18446744073709551615, Kind: KindRoutingStatus, UserID: 42, Body: json.RawMessage(`{"callRoutingStatus":"idle"}`), CreatedAt: at.In(time.FixedZone("X", -7200))},
		{Kind: "k\"\n"},
	} {
		got := r.appendJSON(nil)
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var g, w map[string]any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("hand-written encoding differs from go-json:\n got %s\nwant %s", got, want)
		}
		var back OutboxRecord
		if err := json.Unmarshal(got, &back); err != nil || back.Seq != r.Seq || !back.CreatedAt.Equal(r.CreatedAt) || back.UserID != r.UserID {
			t.Errorf("round trip: %+v, %v", back, err)
		}
	}
}
