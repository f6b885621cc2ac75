package phone

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

func mustNormalizer(tb testing.TB, region string) *Normalizer {
	tb.Helper()
	n, err := NewNormalizer(region)
	if err != nil {
		tb.Fatalf("NewNormalizer(%q): %v", region, err)
	}
	return n
}

func TestNewNormalizer(t *testing.T) {
	for _, region := range []string{"DE", "de", " AT ", "US", "GB"} {
		if _, err := NewNormalizer(region); err != nil {
			t.Errorf("NewNormalizer(%q): %v", region, err)
		}
	}
	for _, region := range []string{"", "XX", "ZZ", "001", "DEU", "Germany"} {
		if _, err := NewNormalizer(region); err == nil {
			t.Errorf("NewNormalizer(%q): want error", region)
		}
	}
}

func TestE164(t *testing.T) {
	tests := []struct {
		region, raw, want string
	}{
		// The forms PBXs and ERPs write a German mobile number in.
		{"DE", "0171 1234567", "+491711234567"},
		{"DE", "+49 171 1234567", "+491711234567"},
		{"DE", "004917112345 67", "+491711234567"},
		{"DE", "+49 (171) 123-4567", "+491711234567"},
		{"DE", "0049-171-1234567", "+491711234567"},
		{"DE", "+491711234567", "+491711234567"},
		{"DE", "01711234567", "+491711234567"},
		{"DE", "  0171/1234567  ", "+491711234567"},
		// Trunk zero after the country code is dropped by phonenumbers.
		{"DE", "+4901711234567", "+491711234567"},
		{"DE", "030 12345678", "+493012345678"},
		// Foreign numbers written in a German system.
		{"DE", "+43 664 1234567", "+436641234567"},
		{"DE", "0043 664 1234567", "+436641234567"},
		{"DE", "+1 212 555 0100", "+12125550100"},
		// Other regions.
		{"AT", "0664 1234567", "+436641234567"},
		{"AT", "+49 171 1234567", "+491711234567"},
		{"US", "(212) 555-0100", "+12125550100"},
		{"US", "212-555-0100", "+12125550100"},
		{"US", "1 212 555 0100", "+12125550100"},
		{"US", "011 49 171 1234567", "+491711234567"},
		// Italian numbers keep their leading zero.
		{"IT", "06 1234 5678", "+390612345678"},
		{"DE", "+39 06 1234 5678", "+390612345678"},
		// Garbage.
		{"DE", "", ""},
		{"DE", "abc", ""},
		{"DE", "+", ""},
		{"DE", "++", ""},
		{"DE", "1", ""},
		{"DE", "-", ""},
		{"DE", strings.Repeat("1234567890", 4), ""},
		{"DE", "+" + strings.Repeat("1234567890", 4), ""},
		{"DE", "+999 1234567", ""}, // unassigned country code
		{"DE", "+49 1", ""},        // too short
		{"US", "555", ""},
	}
	norms := map[string]*Normalizer{}
	for _, tt := range tests {
		n := norms[tt.region]
		if n == nil {
			n = mustNormalizer(t, tt.region)
			norms[tt.region] = n
		}
		got, ok := n.E164(tt.raw)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("%s E164(%q) = %q, %v; want %q", tt.region, tt.raw, got, ok, tt.want)
		}
	}
}

// TestFastPathMatchesSlowPath checks that whenever fastE164 decides, it
// decides as phonenumbers would, over random canonical E.164 strings for
// every country calling code, including leading zeros and national
// prefixes after the code.
func TestFastPathMatchesSlowPath(t *testing.T) {
	n := mustNormalizer(t, "DE")
	rng := rand.New(rand.NewPCG(1, 2))
	perLength := 12
	if testing.Short() {
		perLength = 3
	}
	var decided, accepted, total int
	check := func(raw string) {
		total++
		fast, fastOK, ok := n.fastE164(raw)
		if !ok {
			return
		}
		decided++
		if fastOK {
			accepted++
		}
		slow, slowOK := n.slowE164(raw)
		if fast != slow || fastOK != slowOK {
			t.Errorf("%s: fast path %q, %v; phonenumbers %q, %v", raw, fast, fastOK, slow, slowOK)
		}
	}
	for code := range phonenumbers.GetSupportedCallingCodes() {
		cc := strconv.Itoa(code)
		for nsnLen := 1; len(cc)+nsnLen <= 15; nsnLen++ {
			for range perLength {
				check("+" + cc + randomDigits(rng, nsnLen))
			}
		}
	}
	// Fully random digit strings also hit unassigned and 0-leading codes.
	for range 5000 {
		check("+" + randomDigits(rng, 8+rng.IntN(8)))
	}
	t.Logf("%d numbers, fast path decided %d (%d accepted)", total, decided, accepted)
	// The fast path must actually be taken for the common cases.
	for _, raw := range []string{"+491711234567", "+493012345678", "+436641234567", "+12125550100", "+447911123456"} {
		if _, ok, decided := n.fastE164(raw); !decided || !ok {
			t.Errorf("%s: fast path not taken", raw)
		}
	}
	if _, _, decided := n.fastE164("+4901711234567"); decided {
		t.Errorf("+4901711234567: fast path must leave trunk zeros to phonenumbers")
	}
}

// TestWrittenFastPathMatchesSlowPath checks E164 against phonenumbers alone
// for numbers written the ways people write them (national, with trunk
// prefix, with IDD, with separators, the library's own example numbers) in
// every region.
func TestWrittenFastPathMatchesSlowPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	perRegion := 20
	if testing.Short() {
		perRegion = 8
	}
	var total, fast int
	for region := range phonenumbers.GetSupportedRegions() {
		n := mustNormalizer(t, region)
		check := func(raw string) {
			total++
			if _, ok := n.fastWritten(raw); ok {
				fast++
			}
			got, gotOK := n.E164(raw)
			want, wantOK := n.slowE164(raw)
			if got != want || gotOK != wantOK {
				t.Errorf("%s E164(%q) = %q, %v; phonenumbers %q, %v", region, raw, got, gotOK, want, wantOK)
			}
		}
		for _, typ := range []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE} {
			ex := phonenumbers.GetExampleNumberForType(region, typ)
			if ex == nil {
				continue
			}
			for _, f := range []phonenumbers.PhoneNumberFormat{phonenumbers.E164, phonenumbers.INTERNATIONAL, phonenumbers.NATIONAL} {
				check(phonenumbers.Format(ex, f))
			}
			check(phonenumbers.FormatOutOfCountryCallingNumber(ex, region))
		}
		starts := []string{"", "0", "00", "01", "011", "1", "8", "9", "+", strconv.Itoa(phonenumbers.GetCountryCodeForRegion(region))}
		for range perRegion {
			digits := starts[rng.IntN(len(starts))] + randomDigits(rng, 3+rng.IntN(12))
			check(withSeparators(rng, digits))
		}
	}
	t.Logf("%d numbers in %d regions, %d on the written fast path", total, len(phonenumbers.GetSupportedRegions()), fast)
	n := mustNormalizer(t, "DE")
	for _, raw := range []string{"0171 1234567", "004917112345 67", "+49 (171) 123-4567", "0049-171-1234567", "030/1234567", "+43 664 1234567"} {
		if _, ok := n.fastWritten(raw); !ok {
			t.Errorf("DE %q: fast path not taken", raw)
		}
	}
	// Odd punctuation around the start and end.
	for _, raw := range []string{
		"(+49) 171 1234567", " +49 171 1234567", "+ 49 171 1234567", "++49 171 1234567", "-0171 1234567",
		"(0171) 1234567", "0171 1234567)", "0171 1234567 -", ".0171.1234567.", "+49 (0) 171 1234567",
		"+49 (0)171 1234567", "0049 (0) 171 1234567", "49 171 1234567", "4917112345678", "0 171 1234567",
		"00 49 171 1234567", "000 49 171 1234567", "+(49) 171 1234567", "0171 1234567 / 0172 7654321",
	} {
		got, gotOK := n.E164(raw)
		want, wantOK := n.slowE164(raw)
		if got != want || gotOK != wantOK {
			t.Errorf("DE E164(%q) = %q, %v; phonenumbers %q, %v", raw, got, gotOK, want, wantOK)
		}
	}
}

func randomDigits(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.IntN(10))
	}
	return string(b)
}

// withSeparators sprinkles the separators fastWritten accepts (and a few it
// does not) into digits.
func withSeparators(rng *rand.Rand, digits string) string {
	seps := []string{" ", " ", "-", "/", ".", "(", ")", " (0) ", "\t", "x"}
	var b strings.Builder
	for i := 0; i < len(digits); i++ {
		b.WriteByte(digits[i])
		if i > 0 && i < len(digits)-1 && rng.IntN(4) == 0 {
			b.WriteString(seps[rng.IntN(len(seps))])
		}
	}
	return b.String()
}

func TestE164Concurrent(t *testing.T) {
	n := mustNormalizer(t, "DE")
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 200 {
				if got, _ := n.E164("0171 1234567"); got != "+491711234567" {
					t.Errorf("got %q", got)
					return
				}
				if got, _ := n.E164("+491711234567"); got != "+491711234567" {
					t.Errorf("got %q", got)
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}

func BenchmarkE164Fast(b *testing.B) {
	n := mustNormalizer(b, "DE")
	for b.Loop() {
		if _, ok := n.E164("+491711234567"); !ok {
			b.Fatal("not ok")
		}
	}
}

// BenchmarkE164Written is the usual ERP form, through the written fast path.
func BenchmarkE164Written(b *testing.B) {
	n := mustNormalizer(b, "DE")
	for b.Loop() {
		if _, ok := n.E164("0171 1234567"); !ok {
			b.Fatal("not ok")
		}
	}
}

// BenchmarkE164Slow is a number only phonenumbers can read.
func BenchmarkE164Slow(b *testing.B) {
	n := mustNormalizer(b, "DE")
	for b.Loop() {
		if _, ok := n.E164("+49 (0) 171 1234567"); !ok {
			b.Fatal("not ok")
		}
	}
}

// BenchmarkE164SlowCanonical is canonical input through phonenumbers
// alone, i.e. what the fast path saves.
func BenchmarkE164SlowCanonical(b *testing.B) {
	n := mustNormalizer(b, "DE")
	for b.Loop() {
		if _, ok := n.slowE164("+491711234567"); !ok {
			b.Fatal("not ok")
		}
	}
}

func BenchmarkNewNormalizer(b *testing.B) {
	for b.Loop() {
		mustNormalizer(b, "DE")
	}
}
