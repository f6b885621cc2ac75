package model

import (
	"reflect"
	"testing"
	"time"

	json "github.com/goccy/go-json"
)

// fill sets every field reachable from v to a non-zero value, so a field
// added to Ticket or QueueEntry and forgotten by its encoder shows up.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString("s<" + string(rune('a'+*n%26)) + ">\"\n")
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(*n) * 1_000_000_007)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), n)
		}
		v.Set(s)
	case reflect.Map:
		v.Set(reflect.ValueOf(map[string]any{"s": "x", "i": int64(*n), "n": 3, "b": true, "z": nil, "f": 1.5, "l": []int64{1, 2}}))
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2026, 11, 25, 9, 30, *n%60, 123456789+*n, time.UTC)))
			return
		}
		for i := range v.NumField() {
			fill(v.Field(i), n)
		}
	}
}

func decoded(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

func TestEncodersMatchGoJSON(t *testing.T) {
	var full Ticket
	n := 0
	fill(reflect.ValueOf(&full).Elem(), &n)
	local := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		v    any
		enc  func() []byte
	}{
		{"empty ticket", &Ticket{}, func() []byte { return (&Ticket{}).AppendJSON(nil) }},
		{"full ticket", &full, func() []byte { return full.AppendJSON(nil) }},
		{"ticket in another zone", &Ticket{CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, local), Conversation: []Conversation{}, Events: []Event{}},
			func() []byte {
				return (&Ticket{CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, local), Conversation: []Conversation{}, Events: []Event{}}).AppendJSON(nil)
			}},
		{"empty queue entry", &QueueEntry{}, func() []byte { return (&QueueEntry{}).AppendJSON(nil) }},
	}
	var fullCall Call
	fill(reflect.ValueOf(&fullCall).Elem(), &n)
	tests = append(tests, struct {
		name string
		v    any
		enc  func() []byte
	}{"full call", &fullCall, func() []byte { return fullCall.AppendJSON(nil) }},
		struct {
			name string
			v    any
			enc  func() []byte
		}{"empty call", &Call{}, func() []byte { return (&Call{}).AppendJSON(nil) }})
	var fullQ QueueEntry
	fill(reflect.ValueOf(&fullQ).Elem(), &n)
	tests = append(tests, struct {
		name string
		v    any
		enc  func() []byte
	}{"full queue entry", &fullQ, func() []byte { return fullQ.AppendJSON(nil) }})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			got := tc.enc()
			if !reflect.DeepEqual(decoded(t, got), decoded(t, want)) {
				t.Fatalf("hand-written encoder differs from go-json:\n got %s\nwant %s", got, want)
			}
		})
	}
	// And the stored form reads back into the same value.
	var back Ticket
	if err := json.Unmarshal(full.AppendJSON(nil), &back); err != nil {
		t.Fatal(err)
	}
	if back.ID != full.ID || back.Events[1].At != full.Events[1].At || *back.Durations.HumanSeconds != *full.Durations.HumanSeconds ||
		back.Conversation[1].Message != full.Conversation[1].Message || *back.Forwarding.SyncedAt != *full.Forwarding.SyncedAt {
		t.Fatalf("round trip lost fields: %+v", back)
	}
}

func BenchmarkTicketEncode(b *testing.B) {
	var tk Ticket
	n := 0
	fill(reflect.ValueOf(&tk).Elem(), &n)
	b.Run("hand-written", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 4096)
		for b.Loop() {
			buf = tk.AppendJSON(buf[:0])
		}
	})
	b.Run("go-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&tk); err != nil {
				b.Fatal(err)
			}
		}
	})
}
