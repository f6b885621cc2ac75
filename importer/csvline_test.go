package importer

import (
	"errors"
	"reflect"
	"testing"
)

func TestSplitCSVLine(t *testing.T) {
	good := map[string][]string{
		``:                 {""},
		`a,`:               {"a", ""},
		`"",b`:             {"", "b"},
		`"a""b","c,d"`:     {`a"b`, "c,d"},
		`1,"x",  y `:       {"1", "x", "  y "},
		`"only one field"`: {"only one field"},
	}
	for in, want := range good {
		got, err := splitCSVLine(in, nil)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]error{
		`1,"open`:       errOpenQuote,
		`1,"a""`:        errOpenQuote,
		`1,a"b`:         errBareQuote,
		`"a"b,c`:        errAfterQuote,
		`1,"a" ,c`:      errAfterQuote,
		`x,y,"z""",,"q`: errOpenQuote,
	}
	for in, want := range bad {
		if _, err := splitCSVLine(in, nil); !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", in, err, want)
		}
	}
}
