// Package phone normalises the phone numbers that PBXs and ERPs hand us into
// E.164, the one form the customer directory's phone index is keyed by.
//
// phonenumbers.Parse costs some 20µs (regular expressions, 40 allocations),
// which would dominate both a lookup and a bulk import of a million
// customers. Normalizer therefore answers the common shapes itself (E.164,
// international with the region's IDD, national with or without the trunk
// prefix, each with ordinary separators), but only where the library's own
// rules show Parse would give the same answer; everything else goes to
// Parse. phone_test.go checks the two agree over many random numbers.
package phone

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// maxCountryCode bounds the ITU country calling codes (at most three digits).
const maxCountryCode = 999

// Normalizer turns phone numbers as PBXs and ERPs write them into E.164.
//
// Numbers in national form ("0171 1234567") are read as belonging to the
// region the Normalizer was made for. A Normalizer is immutable after
// NewNormalizer and safe for concurrent use.
type Normalizer struct {
	region string
	// cc describes every country calling code, indexed by the code, so the
	// fast path decides without a map lookup or a regular expression.
	cc   [maxCountryCode + 1]callingCode
	home homeRules
}

// callingCode is what the fast path needs to know about one country calling
// code.
type callingCode struct {
	known bool // phonenumbers knows the code
	// fast: "+" numbers with this code may skip phonenumbers.Parse, because
	// the national prefix for parsing of its main region is absent, a digit
	// string or an alternation of them ("0|180020"), which a prefix test
	// can rule out.
	fast     bool
	prefixes []string // those national prefixes for parsing, e.g. "0"
}

// homeRules is what the fast path needs to read numbers written without a
// "+" in the Normalizer's region. ok is false where the region's rules are
// not plain digit strings; such numbers always go to phonenumbers.Parse.
type homeRules struct {
	ok       bool
	code     string   // country calling code, e.g. "49"
	idd      string   // international call prefix, e.g. "00"
	prefixes []string // national (trunk) prefixes for parsing, e.g. "0"
	// general is the region's national number pattern; Parse only strips
	// a trunk prefix when the rest matches it or the whole does not.
	general *regexp.Regexp
}

// NewNormalizer returns a Normalizer for numbers written in region, an ISO
// 3166-1 alpha-2 code such as "DE" (case-insensitive). It fails if
// phonenumbers has no metadata for region, because national numbers could
// then never be resolved.
func NewNormalizer(region string) (*Normalizer, error) {
	region = strings.ToUpper(strings.TrimSpace(region))
	if phonenumbers.GetCountryCodeForRegion(region) == 0 {
		return nil, fmt.Errorf("phone: unknown region %q (want an ISO 3166-1 alpha-2 code such as DE)", region)
	}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return nil, fmt.Errorf("phone: load metadata: %w", err)
	}
	byRegion := make(map[string]*phonenumbers.PhoneMetadata, len(coll.GetMetadata()))
	for _, m := range coll.GetMetadata() {
		if m.GetId() != "001" { // non-geographic entities share this id
			byRegion[m.GetId()] = m
		}
	}
	n := &Normalizer{region: region}
	for code := range phonenumbers.GetSupportedCallingCodes() {
		if code <= 0 || code > maxCountryCode {
			continue
		}
		n.cc[code].known = true
		// Parse reads a "+" number with the metadata of the code's main
		// region, so that region's national prefix rule is the one to check.
		m := byRegion[phonenumbers.GetRegionCodeForCountryCode(code)]
		if m == nil {
			continue // non-geographic (+800, +882, ...): leave to Parse
		}
		if prefixes, ok := literalPrefixes(m.GetNationalPrefixForParsing()); ok {
			n.cc[code] = callingCode{known: true, fast: true, prefixes: prefixes}
		}
	}
	if err := n.home.init(region, byRegion[region]); err != nil {
		return nil, err
	}
	return n, nil
}

// init fills h for region. Only a main region (DE, US, GB; not CA or JE)
// qualifies: IsPossibleNumber judges by the main region's metadata while
// Parse strips trunk prefixes by the region's own.
func (h *homeRules) init(region string, m *phonenumbers.PhoneMetadata) error {
	if m == nil {
		return nil
	}
	code := int(m.GetCountryCode())
	if phonenumbers.GetRegionCodeForCountryCode(code) != region {
		return nil
	}
	idd := m.GetInternationalPrefix()
	prefixes, ok := literalPrefixes(m.GetNationalPrefixForParsing())
	if !ok || idd == "" || !allDigits(idd) {
		return nil
	}
	general, err := regexp.Compile("^(?:" + m.GetGeneralDesc().GetNationalNumberPattern() + ")$")
	if err != nil {
		return fmt.Errorf("phone: national number pattern of %s: %w", region, err)
	}
	*h = homeRules{ok: true, code: strconv.Itoa(code), idd: idd, prefixes: prefixes, general: general}
	return nil
}

// Region returns the region national numbers are read in, e.g. "DE".
func (n *Normalizer) Region() string { return n.region }

// E164 returns raw in E.164 form ("+491711234567") and true, or "" and false
// if raw is empty, cannot be parsed, or has no possible length for its
// country. Possible rather than valid numbers are accepted so that test
// numbers and newly opened ranges still match.
func (n *Normalizer) E164(raw string) (string, bool) {
	if s, ok, decided := n.fastE164(raw); decided {
		return s, ok
	}
	if s, ok := n.fastWritten(raw); ok {
		return s, true
	}
	return n.slowE164(raw)
}

// slowE164 is the full phonenumbers path for any input.
func (n *Normalizer) slowE164(raw string) (string, bool) {
	if raw == "" {
		return "", false
	}
	num, err := phonenumbers.Parse(raw, n.region)
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return "", false
	}
	return phonenumbers.Format(num, phonenumbers.E164), true
}

// fastE164 handles input that is already canonical E.164 ("+" and 8 to 15
// digits, nothing else). It only decides (decided true) when Parse would
// provably leave the number as it is: the national significant number must
// not start with 0 (Italian leading zeros, trunk zeros as in "+490171...")
// nor with the country's national prefix for parsing, and that prefix must
// be plain digits. Everything else is left undecided.
func (n *Normalizer) fastE164(raw string) (s string, ok, decided bool) {
	if len(raw) < 1+8 || len(raw) > 1+15 || raw[0] != '+' || !allDigits(raw[1:]) {
		return "", false, false
	}
	digits := raw[1:]
	// Country codes are prefix-free; take the first known one, as Parse does.
	code, ccLen := 0, 0
	for i := 1; i <= 3 && digits[0] != '0'; i++ {
		c, _ := strconv.Atoi(digits[:i])
		if n.cc[c].known {
			code, ccLen = c, i
			break
		}
	}
	if code == 0 || !n.cc[code].fast {
		return "", false, false
	}
	nsn := digits[ccLen:]
	if len(nsn) < 2 || nsn[0] == '0' || hasAnyPrefix(nsn, n.cc[code].prefixes) {
		return "", false, false
	}
	national, err := strconv.ParseUint(nsn, 10, 64)
	if err != nil {
		return "", false, false
	}
	cc32 := int32(code)
	num := phonenumbers.PhoneNumber{CountryCode: &cc32, NationalNumber: &national}
	// Strictly IS_POSSIBLE: fastWritten relies on it (Parse keeps a trunk
	// prefix when the rest has a local-only length), so leave that rarity
	// to Parse here too.
	if phonenumbers.IsPossibleNumberWithReason(&num) != phonenumbers.IS_POSSIBLE {
		return "", false, false
	}
	return raw, true, true
}

// fastWritten handles numbers as people write them: ASCII digits with
// spaces, '-', '/', '.', '(' and ')', optionally led by '+', by the region's
// IDD ("0049 ...") or by its trunk prefix ("0171 ..."). It rewrites them to
// canonical E.164 the way Parse would and passes that to fastE164; ok is
// false whenever Parse might differ, and then the caller asks Parse.
func (n *Normalizer) fastWritten(raw string) (string, bool) {
	var buf [1 + 3 + 17]byte
	b := buf[:0]
	plus := false
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; {
		case c >= '0' && c <= '9':
			if len(b) == cap(b)-1-3 { // leave room for "+" and a country code
				return "", false
			}
			b = append(b, c)
		case c == '+' && len(b) == 0 && !plus:
			plus = true
		case c == ' ' || c == '-' || c == '/' || c == '.' || c == '(' || c == ')':
			if plus && len(b) == 0 {
				return "", false // "+(49)": let Parse judge
			}
		default:
			return "", false
		}
	}
	digits := string(b)
	var canonical string
	h := &n.home
	switch {
	case plus:
		canonical = "+" + digits
	case !h.ok:
		return "", false
	case strings.HasPrefix(digits, h.idd):
		canonical = "+" + digits[len(h.idd):]
	case strings.HasPrefix(digits, h.code):
		return "", false // Parse may read the region's own code: ask it
	default:
		national := digits
		for _, p := range h.prefixes {
			if strings.HasPrefix(digits, p) {
				// Parse strips the trunk prefix when what remains fits
				// the region's number pattern (among other cases).
				national = digits[len(p):]
				if !h.general.MatchString(national) {
					return "", false
				}
				break
			}
		}
		canonical = "+" + h.code + national
	}
	s, ok, decided := n.fastE164(canonical)
	return s, ok && decided
}

// literalPrefixes splits a national prefix for parsing that is a plain
// alternation of digit strings ("", "0", "8", "0|180020") into its
// alternatives, in the order a regular expression would try them; ok is
// false for anything with other regular expression syntax.
func literalPrefixes(pattern string) (prefixes []string, ok bool) {
	if pattern == "" {
		return nil, true
	}
	for _, p := range strings.Split(pattern, "|") {
		if p == "" || !allDigits(p) {
			return nil, false
		}
		prefixes = append(prefixes, p)
	}
	return prefixes, true
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// allDigits reports whether s consists of ASCII digits only ("" included).
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
