package upstream

import (
	"fmt"
	"testing"
)

// The pull endpoints' shapes are not public; these are the shapes the
// parsers assume (README: "Agents and lines from central").
func TestParseAgentsShapes(t *testing.T) {
	tests := []struct {
		name, raw, want string
		skipped         int
	}{
		{"bare list, numeric skills", `[{"userId":7,"name":"Ann","skills":[5,6]}]`, "[7 Ann [5 6]]", 0},
		{"wrapped, skill objects, string ids", `{"success":true,"agents":[{"id":"8","firstName":"Bo","lastName":"Li","skills":[{"id":5,"name":"billing"},{"tagId":"9"}]}]}`, "[8 Bo Li [5 9]]", 0},
		{"keyed by id", `{"data":{"9":{"displayName":"Cy","tagIds":[1]}}}`, "[9 Cy [1]]", 0},
		{"no id is skipped", `[{"name":"nobody"},{"userId":3}]`, "[3  []]", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, skipped, err := ParseAgents([]byte(tc.raw))
			if err != nil {
				t.Fatal(err)
			}
			var s string
			for _, a := range got {
				s += fmt.Sprint(a.ID, " ", a.Name, " ", a.SkillTagIDs)
			}
			if "["+s+"]" != tc.want || skipped != tc.skipped {
				t.Fatalf("got [%s] skipped %d, want %s skipped %d", s, skipped, tc.want, tc.skipped)
			}
		})
	}
	for _, bad := range []string{`nope`, `"a string"`, `{"agents":"x"}`, `{"success":false,"error":"maintenance"}`} {
		if _, _, err := ParseAgents([]byte(bad)); err == nil {
			t.Errorf("ParseAgents(%s): no error", bad)
		}
	}
}

func TestParseLinesShapes(t *testing.T) {
	raw := `{"subchannels":[
		{"id":5,"channel":"phone","name":"Hotline","settings":{"acdRingTimeSeconds":15,"acdAcwSeconds":45,"primaryTagId":3}},
		{"id":"6","channel":"phone","acdRingTimeSeconds":"8","settings":"{\"acdAcwSeconds\":10}"},
		{"id":7,"channel":"email","settings":{"acdRingTimeSeconds":1}},
		{"id":8,"settings":{"acdRingTimeSeconds":99999,"acdAcwSeconds":-3}},
		{"name":"no id"}]}`
	got, skipped, err := ParseLines([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	want := "[{5 Hotline 15 45 3} {6  8 10 0} {8  0 0 0}]"
	if fmt.Sprint(got) != want || skipped != 1 {
		t.Fatalf("got %v skipped %d, want %s skipped 1", got, skipped, want)
	}
}
