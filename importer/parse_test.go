package importer

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/enneo-edge/enneo-edge/model"
	"github.com/enneo-edge/enneo-edge/phone"
)

func deNormalizer(tb testing.TB) *phone.Normalizer {
	tb.Helper()
	n, err := phone.NewNormalizer("DE")
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestParseJSONLine(t *testing.T) {
	n := deNormalizer(t)
	tests := []struct {
		name string
		line string
		want model.Customer
	}{
		{
			name: "full",
			line: `{"id":"K-1","contractIds":["V-1","V-2"],"phone":"0171 1234567","phones":["+49 30 12345678","0171/1234567"],"firstname":"Erika","lastname":"Mustermann","company":"ACME","email":"e@example.com","extra":{"x":[1,2]}}`,
			want: model.Customer{
				ID: "K-1", ContractIDs: []string{"V-1", "V-2"},
				Phones:     []string{"0171 1234567", "+49 30 12345678", "0171/1234567"},
				PhonesE164: []string{"+491711234567", "+493012345678"},
				Firstname:  "Erika", Lastname: "Mustermann", Company: "ACME", Email: "e@example.com",
			},
		},
		{
			name: "numbers as ids",
			line: `{"id": 4711, "contractIds": [12, "C-13"]}`,
			want: model.Customer{ID: "4711", ContractIDs: []string{"12", "C-13"}},
		},
		{
			name: "nulls, escapes, blanks trimmed",
			line: "  {\"id\":\" 7 \",\"contractIds\":null,\"phone\":\"\",\"phones\":[\" \"],\"firstname\":\"J\\u00fcrgen\",\"lastname\":null}\r\n",
			want: model.Customer{ID: "7", Firstname: "Jürgen"},
		},
		{
			name: "arrays with spaces, escapes, nulls and empties",
			line: `{"id":"9", "contractIds" : [ 1 , "a\"b" ,-2.5e3 ], "phones":[ null, "", "0171 1234567" , "+49 171 1234567"], "phone":null}`,
			want: model.Customer{
				ID: "9", ContractIDs: []string{"1", `a"b`, "-2.5e3"},
				Phones: []string{"0171 1234567", "+49 171 1234567"}, PhonesE164: []string{"+491711234567"},
			},
		},
		{
			name: "empty arrays",
			line: `{"id":"9","contractIds":[],"phones":[ ]}`,
			want: model.Customer{ID: "9"},
		},
		{
			name: "no phones",
			line: `{"id":"1"}`,
			want: model.Customer{ID: "1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseJSONLine([]byte(tt.line), n)
			if err != nil {
				t.Fatalf("ParseJSONLine: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseJSONLineErrors(t *testing.T) {
	n := deNormalizer(t)
	tests := []struct {
		line, want string
	}{
		{``, "invalid JSON: empty"},
		{`not json`, "invalid JSON: not an object"},
		{`[1,2]`, "invalid JSON: not an object"},
		{`{"id":"1",}`, "invalid JSON: "},
		{`{"id":"1"`, "invalid JSON: "},
		{"{\"id\":\"M\xfcller\"}", "invalid JSON: not valid UTF-8"},
		{`{"id":true}`, "id: must be a string or number"},
		{`{"id":{"a":1}}`, "id: must be a string or number"},
		{`{"id":""}`, "id: required"},
		{`{"id":"   "}`, "id: required"},
		{`{}`, "id: required"},
		{`{"id":"` + strings.Repeat("x", 51) + `"}`, "id: longer than 50 characters"},
		{`{"id":"1","contractIds":"C-1"}`, "contractIds: must be an array of strings or numbers"},
		{`{"id":"1","contractIds":[true]}`, "contractIds: must be an array of strings or numbers"},
		{`{"id":"1","contractIds":[null]}`, "contractIds[0]: must be 1 to 50 characters"},
		{`{"id":"1","contractIds":[{"a":"b"}]}`, "contractIds: must be an array of strings or numbers"},
		{`{"id":"1","phones":[["0171 1234567"]]}`, "phones: must be an array of strings"},
		{`{"id":"1","contractIds":[["C"]]}`, "contractIds: must be an array of strings or numbers"},
		{`{"id":"1","contractIds":["C-1",""]}`, "contractIds[1]: must be 1 to 50 characters"},
		{`{"id":"1","phone":491711234567}`, "phone: must be a string"},
		{`{"id":"1","phone":["0171 1234567"]}`, "phone: must be a string"},
		{`{"id":"1","phones":"0171 1234567"}`, "phones: must be an array of strings"},
		{`{"id":"1","phones":[491711234567]}`, "phones: must be an array of strings"},
		{`{"id":"1","phone":"abc"}`, `phone: not a phone number: "abc"`},
		{`{"id":"1","phones":["0171 1234567","+999 1234567"]}`, `phones[1]: not a phone number: "+999 1234567"`},
		{`{"id":"1","firstname":1}`, "firstname: must be a string"},
		{`{"id":"1","lastname":[]}`, "lastname: must be a string"},
		{`{"id":"1","company":false}`, "company: must be a string"},
		{`{"id":"1","email":{}}`, "email: must be a string"},
	}
	for _, tt := range tests {
		_, err := ParseJSONLine([]byte(tt.line), n)
		if err == nil {
			t.Errorf("%s: no error, want %q", tt.line, tt.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: error %q, want %q", tt.line, err, tt.want)
		}
		if !errors.Is(err, model.ErrInvalid) {
			t.Errorf("%s: error %q does not match model.ErrInvalid", tt.line, err)
		}
	}
}

func TestCSVColumns(t *testing.T) {
	cols, err := newCSVColumns([]string{" ID ", "Contract_IDs", "Phone", "PHONES", "x", "FirstName", "lastname", "Company", "eMail"})
	if err != nil {
		t.Fatal(err)
	}
	if cols.id != 0 || cols.contractIDs != 1 || !reflect.DeepEqual(cols.phone, []int{2, 3}) ||
		cols.firstname != 5 || cols.lastname != 6 || cols.company != 7 || cols.email != 8 {
		t.Errorf("columns %+v", cols)
	}
	for _, alias := range []string{"contractIds", "contractId", "contract_ids"} {
		cols, err := newCSVColumns([]string{"id", alias})
		if err != nil || cols.contractIDs != 1 {
			t.Errorf("%s: %+v, %v", alias, cols, err)
		}
	}
	_, err = newCSVColumns([]string{"customer", "phone"})
	if err == nil || !strings.Contains(err.Error(), `"customer,phone"`) {
		t.Errorf("missing id column: %v", err)
	}
}

func TestSplitMulti(t *testing.T) {
	tests := map[string][]string{
		"":            nil,
		"a":           {"a"},
		"a;b":         {"a", "b"},
		" a | b ;; c": {"a", "b", "c"},
		";|":          nil,
	}
	for in, want := range tests {
		if got := splitMulti(in); !reflect.DeepEqual(got, want) {
			t.Errorf("splitMulti(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkParseJSONLine(b *testing.B) {
	n := deNormalizer(b)
	line := []byte(`{"id":"100042","contractIds":["V-100042","V-200042"],"phones":["0171 1234567","+49 30 12345678"],"firstname":"Erika","lastname":"Mustermann","company":"ACME GmbH","email":"erika@example.com"}`)
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if _, err := ParseJSONLine(line, n); err != nil {
			b.Fatal(err)
		}
	}
}
