package importer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/model"
)

// fakeSink records what Import writes; failAt makes the n-th call (1-based)
// fail.
type fakeSink struct {
	sizes     []int
	customers []model.Customer
	failAt    int
}

func (s *fakeSink) UpsertCustomers(batch []model.Customer) error {
	if len(s.sizes)+1 == s.failAt {
		return errors.New("disk full")
	}
	s.sizes = append(s.sizes, len(batch))
	s.customers = append(s.customers, batch...) // copies: Import reuses batch
	return nil
}

func (s *fakeSink) ids() []string {
	var ids []string
	for _, c := range s.customers {
		ids = append(ids, c.ID)
	}
	return ids
}

// skipped renders a Result's skipped lines for comparison.
func skipped(res Result) []string {
	var out []string
	for _, e := range res.Skipped {
		out = append(out, e.Error())
	}
	return out
}

func TestImportCSV(t *testing.T) {
	in := "\uFEFFID,Phone,contractId,firstname,lastname,company,email,ignored\n" + // line 1
		`1,0171 1234567,V-1|V-2,Erika,Mustermann,"ACME, Inc.",e@example.com,z` + "\n" + // 2
		`2,"+49 30 12345678; 0171-1234567",,"Max ""Mad""",,,,` + "\n" + // 3
		"\n" + // 4: blank, skipped silently
		`,0171 1234567,,,,,,` + "\n" + // 5: no id
		`3,"not a,,,,,,` + "\n" + // 6: unbalanced quote: reported, takes no other line along
		`9,0171 7654321,,,,,,` + "\n" + // 7
		`4,0171 1234567;abc,,,,,,` + "\n" + // 8
		`5 ,,,,,,,` + "\n" + // 9: no phone, no contract
		`6,ab"c,,,,,,` + "\n" + // 10: bare quote
		"8,0171 1234567,,J\xfcrgen,,,,\n" + // 11: Latin-1
		`10,0171 1234567` + "\n" + // 12: too few columns
		`11,0171 1234567,,,,,,,` + "\n" + // 13: too many columns
		`12,,V-12,,,,,` + "\n" + // 14: a contract, no phone: identifiable
		"7,030 1234567,,,,,,\r" // 15: no final newline, a CR
	sink := &fakeSink{}
	res, err := Import(strings.NewReader(in), CSV, sink, Options{Normalizer: deNormalizer(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sink.ids(), []string{"1", "2", "9", "12", "7"}; !reflect.DeepEqual(got, want) {
		t.Errorf("imported %q, want %q", got, want)
	}
	if res.Imported != 5 || res.SkippedCount != 8 {
		t.Errorf("result %+v", res)
	}
	wantSkipped := []string{
		"line 5: id: required",
		`line 6: field 2: quoted field not closed on this line (an unbalanced "; fields cannot span lines)`,
		`line 8: phone[1]: not a phone number: "abc"`,
		"line 9: phone: missing, and no contract ID either: no call could ever identify this customer",
		`line 10: field 2: bare " in a field that does not start with a quote (write "" inside a quoted field)`,
		"line 11: not valid UTF-8 (export the file as UTF-8)",
		"line 12: 2 columns, the header has 8",
		"line 13: 9 columns, the header has 8",
	}
	if got := skipped(res); !reflect.DeepEqual(got, wantSkipped) {
		t.Errorf("skipped\n%q\nwant\n%q", got, wantSkipped)
	}
	want1 := model.Customer{
		ID: "1", ContractIDs: []string{"V-1", "V-2"},
		Phones: []string{"0171 1234567"}, PhonesE164: []string{"+491711234567"},
		Firstname: "Erika", Lastname: "Mustermann", Company: "ACME, Inc.", Email: "e@example.com",
	}
	if !reflect.DeepEqual(sink.customers[0], want1) {
		t.Errorf("customer 1 = %+v\nwant %+v", sink.customers[0], want1)
	}
	if c := sink.customers[1]; c.Firstname != `Max "Mad"` ||
		!reflect.DeepEqual(c.PhonesE164, []string{"+493012345678", "+491711234567"}) {
		t.Errorf("customer 2 = %+v", c)
	}
}

func TestImportCSVHeaderErrors(t *testing.T) {
	n := deNormalizer(t)
	for in, want := range map[string]string{
		"":                       "CSV file is empty",
		"name,phone\n1,0171 1\n": `CSV header has no id column (header: "name,phone")`,
		"\"id\n":                 "CSV header",
	} {
		_, err := Import(strings.NewReader(in), CSV, &fakeSink{}, Options{Normalizer: n})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}

func TestImportJSONLines(t *testing.T) {
	in := "\uFEFF" + `{"id":"1","phone":"0171 1234567"}` + "\n" + // 1
		"\n" + // 2
		"   \r\n" + // 3
		`{"id":"2","phones":["0171 1234567","bad"]}` + "\r\n" + // 4
		`{"id":3,"contractIds":["V-3"]}` + "\n" + // 5
		`garbage` + "\n" + // 6
		`{"id":"4","contractIds":"x"}` + "\n" + // 7
		`{"id":"5","phone":"030 1234567"}` // 8, no final newline
	sink := &fakeSink{}
	res, err := Import(strings.NewReader(in), JSONLines, sink, Options{Normalizer: deNormalizer(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sink.ids(), []string{"1", "3", "5"}; !reflect.DeepEqual(got, want) {
		t.Errorf("imported %q, want %q", got, want)
	}
	wantSkipped := []string{
		`line 4: phones[1]: not a phone number: "bad"`,
		"line 6: invalid JSON: not an object",
		"line 7: contractIds: must be an array of strings or numbers",
	}
	if got := skipped(res); !reflect.DeepEqual(got, wantSkipped) {
		t.Errorf("skipped\n%q\nwant\n%q", got, wantSkipped)
	}
	if res.Imported != 3 || res.SkippedCount != 3 {
		t.Errorf("result %+v", res)
	}
}

func TestImportJSONLinesLongLine(t *testing.T) {
	// A long line the scanner must take whole: its bulk in a field the
	// directory ignores (stored fields have their own bounds).
	long := `{"id":"1","phone":"0171 1234567","comment":"` + strings.Repeat("x", 200<<10) + `"}`
	huge := `{"id":"2","phone":"0171 1234567","company":"` + strings.Repeat("x", maxLineLength) + `"}`
	in := long + "\n" + huge + "\n" + `{"id":"3","phone":"0171 1234567"}` + "\n"
	sink := &fakeSink{}
	res, err := Import(strings.NewReader(in), JSONLines, sink, Options{Normalizer: deNormalizer(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sink.ids(), []string{"1", "3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("imported %q, want %q", got, want)
	}
	if res.SkippedCount != 1 || res.Skipped[0].Line != 2 {
		t.Errorf("result %+v", res)
	}
}

func TestImportAutoDetect(t *testing.T) {
	n := deNormalizer(t)
	for _, in := range []string{"id,phone\n1,0171 1234567\n", "\n  {\"id\":\"1\",\"phone\":\"0171 1234567\"}\n"} {
		sink := &fakeSink{}
		res, err := Import(strings.NewReader(in), Auto, sink, Options{Normalizer: n})
		if err != nil || res.Imported != 1 || res.SkippedCount != 0 {
			t.Errorf("%q: %+v, %v", in, res, err)
		}
	}
}

func TestDetectFormat(t *testing.T) {
	tests := []struct {
		name, head string
		want       Format
	}{
		{"customers.csv", `{"id":1}`, CSV},
		{"Customers.CSV", "", CSV},
		{"customers.jsonl", "id,phone", JSONLines},
		{"customers.ndjson", "", JSONLines},
		{"customers.json", "", JSONLines},
		{"", "\uFEFF \n\t{\"id\"", JSONLines},
		{"export.txt", `{"id"`, JSONLines},
		{"", "id,phone", CSV},
		{"", "", CSV},
	}
	for _, tt := range tests {
		if got := DetectFormat(tt.name, []byte(tt.head)); got != tt.want {
			t.Errorf("DetectFormat(%q, %q) = %v, want %v", tt.name, tt.head, got, tt.want)
		}
	}
}

func TestImportBatching(t *testing.T) {
	var in strings.Builder
	in.WriteString("id,phone\n")
	for i := range 25 {
		fmt.Fprintf(&in, "%d,0171 %07d\n", i, 1000000+i)
	}
	sink := &fakeSink{}
	res, err := Import(strings.NewReader(in.String()), CSV, sink, Options{Normalizer: deNormalizer(t), BatchSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{10, 10, 5}; !reflect.DeepEqual(sink.sizes, want) {
		t.Errorf("batch sizes %v, want %v", sink.sizes, want)
	}
	if res.Imported != 25 || len(sink.customers) != 25 || sink.customers[24].ID != "24" {
		t.Errorf("result %+v, %d customers", res, len(sink.customers))
	}
}

func TestImportSinkError(t *testing.T) {
	var in strings.Builder
	in.WriteString("id,contractIds\n")
	for i := range 25 {
		fmt.Fprintf(&in, "%d,V-%d\n", i, i)
	}
	sink := &fakeSink{failAt: 2}
	res, err := Import(strings.NewReader(in.String()), CSV, sink, Options{Normalizer: deNormalizer(t), BatchSize: 10})
	if err == nil || err.Error() != "write batch ending at line 21: disk full" {
		t.Fatalf("error %v", err)
	}
	if res.Imported != 10 {
		t.Errorf("imported %d, want 10", res.Imported)
	}
}

func TestImportSkippedCap(t *testing.T) {
	in := "id\n" + strings.Repeat(`""`+"\n", MaxSkippedStored+5)
	res, err := Import(strings.NewReader(in), CSV, &fakeSink{}, Options{Normalizer: deNormalizer(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Skipped) != MaxSkippedStored || res.SkippedCount != MaxSkippedStored+5 {
		t.Errorf("%d stored, %d counted", len(res.Skipped), res.SkippedCount)
	}
}

func TestImportNoNormalizer(t *testing.T) {
	if _, err := Import(strings.NewReader("id\n1\n"), CSV, &fakeSink{}, Options{}); !errors.Is(err, ErrNoNormalizer) {
		t.Errorf("error %v", err)
	}
}

func TestProgressNotTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "progress")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	for _, w := range []io.Writer{f, &buf, nil} {
		if _, err := Import(strings.NewReader("id\n1\n"), CSV, &fakeSink{}, Options{Normalizer: deNormalizer(t), Progress: w, Total: 5}); err != nil {
			t.Fatal(err)
		}
	}
	if fi, _ := f.Stat(); fi.Size() != 0 || buf.Len() != 0 {
		t.Errorf("progress written to a non-terminal: file %d bytes, buffer %q", fi.Size(), buf.String())
	}
}

func TestProgressDraw(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	read := &countingReader{r: strings.NewReader(strings.Repeat("x", 1000))}
	p := newProgressTo(&buf, 1000, read, func() time.Time { return clock })
	_, _ = io.CopyN(io.Discard, read, 450)
	for i := 1; i <= 512; i++ { // 256 calls each look at the clock once
		if i == 256 {
			clock = clock.Add(50 * time.Millisecond) // too soon: no redraw
		}
		if i == 512 {
			clock = clock.Add(2 * time.Second)
		}
		p.update(i)
	}
	if got, want := buf.String(), "\r[#########...........]  45%  512 customers  249/s   "; got != want {
		t.Errorf("drew %q, want %q", got, want)
	}
	buf.Reset()
	p.finish(1000, true)
	if got, want := buf.String(), "\r[####################] 100%  1,000 customers  487/s   \n"; got != want {
		t.Errorf("finish drew %q, want %q", got, want)
	}
	var nilProgress *progress
	nilProgress.update(1)
	nilProgress.finish(1, true)
}

func TestRenderProgress(t *testing.T) {
	tests := []struct {
		read, total int64
		customers   int
		elapsed     time.Duration
		want        string
	}{
		{0, 0, 0, 0, "0 customers   "},
		{450, 1000, 450000, 3750 * time.Millisecond, "[#########...........]  45%  450,000 customers  120,000/s   "},
		{2000, 1000, 1234567, time.Second, "[####################] 100%  1,234,567 customers  1,234,567/s   "},
		{5, 0, 999, time.Second, "999 customers  999/s   "},
	}
	for _, tt := range tests {
		if got := renderProgress(tt.read, tt.total, tt.customers, tt.elapsed); got != tt.want {
			t.Errorf("renderProgress(%d, %d, %d, %v) = %q, want %q", tt.read, tt.total, tt.customers, tt.elapsed, got, tt.want)
		}
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 123456789: "123,456,789", -1234: "-1,234"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// nopSink accepts everything, to time parsing alone.
type nopSink struct{}

func (nopSink) UpsertCustomers([]model.Customer) error { return nil }

func benchCSV(lines int) []byte {
	var b bytes.Buffer
	b.WriteString("id,contractIds,phone,firstname,lastname,company,email\n")
	for i := range lines {
		fmt.Fprintf(&b, "%d,V-%d;V-%d,0171 %07d,Erika,Mustermann,\"ACME, Inc.\",erika%d@example.com\n", 100000+i, i, i+1, i, i)
	}
	return b.Bytes()
}

func BenchmarkImportCSV100k(b *testing.B) {
	n := deNormalizer(b)
	data := benchCSV(100000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		res, err := Import(bytes.NewReader(data), CSV, nopSink{}, Options{Normalizer: n})
		if err != nil || res.Imported != 100000 {
			b.Fatalf("%+v %v", res.SkippedCount, err)
		}
	}
	b.ReportMetric(float64(b.N)*100000/b.Elapsed().Seconds(), "lines/s")
}
