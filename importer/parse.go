package importer

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-json"

	"github.com/enneo-edge/enneo-edge/model"
	"github.com/enneo-edge/enneo-edge/phone"
)

// jsonCustomer is an enneo customer object as it arrives. Every field is kept
// raw so that a wrong type can be reported by its field name, and so that IDs
// may be strings or numbers.
type jsonCustomer struct {
	ID          json.RawMessage `json:"id"`
	ContractIDs json.RawMessage `json:"contractIds"`
	Phone       json.RawMessage `json:"phone"`
	Phones      json.RawMessage `json:"phones"`
	Firstname   json.RawMessage `json:"firstname"`
	Lastname    json.RawMessage `json:"lastname"`
	Company     json.RawMessage `json:"company"`
	Email       json.RawMessage `json:"email"`
}

// invalidJSONError reports a line that is not a JSON object. It matches
// model.ErrInvalid like the field errors do, so the server maps every parse
// failure to 400 with one errors.Is.
type invalidJSONError struct{ err error }

func (e *invalidJSONError) Error() string   { return "invalid JSON: " + e.err.Error() }
func (e *invalidJSONError) Unwrap() []error { return []error{model.ErrInvalid, e.err} }

var (
	errNotObject = errors.New("not an object")
	// errNotUTF8 usually means an export in Windows-1252 or Latin-1, whose
	// umlauts would otherwise be stored as garbage.
	errNotUTF8 = errors.New("not valid UTF-8 (export the file as UTF-8)")
)

// ParseJSONLine turns one enneo customer object into a validated Customer
// with normalised phones. The importer calls it for every line of a JSON
// Lines file, the server for the body of PUT /edge/v1/customers.
//
// Accepted fields: id (string or number), contractIds (array of strings or
// numbers), phone (string) and/or phones (array of strings), firstname,
// lastname, company, email; unknown fields are ignored, null counts as
// absent (also inside arrays), strings are trimmed and empty phones
// dropped. Every error names the offending field and matches
// model.ErrInvalid.
func ParseJSONLine(line []byte, n *phone.Normalizer) (model.Customer, error) {
	var c model.Customer
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		if len(line) == 0 {
			return c, &invalidJSONError{errors.New("empty")}
		}
		return c, &invalidJSONError{errNotObject}
	}
	if !utf8.Valid(line) {
		return c, &invalidJSONError{errNotUTF8}
	}
	var raw jsonCustomer
	if err := json.Unmarshal(line, &raw); err != nil {
		return c, &invalidJSONError{err}
	}
	var err error
	if c.ID, err = jsonScalar(raw.ID, true); err != nil {
		return c, model.Invalid("id", "must be a string or number")
	}
	if c.ContractIDs, err = jsonStrings(raw.ContractIDs, true); err != nil {
		return c, model.Invalid("contractIds", "must be an array of strings or numbers")
	}
	single, err := jsonScalar(raw.Phone, false)
	if err != nil {
		return c, model.Invalid("phone", "must be a string")
	}
	many, err := jsonStrings(raw.Phones, false)
	if err != nil {
		return c, model.Invalid("phones", "must be an array of strings")
	}
	for _, f := range []struct {
		name string
		dst  *string
		raw  json.RawMessage
	}{
		{"firstname", &c.Firstname, raw.Firstname},
		{"lastname", &c.Lastname, raw.Lastname},
		{"company", &c.Company, raw.Company},
		{"email", &c.Email, raw.Email},
	} {
		if *f.dst, err = jsonScalar(f.raw, false); err != nil {
			return c, model.Invalid(f.name, "must be a string")
		}
	}
	if single != "" {
		if err := addPhone(&c, n, "phone", -1, single); err != nil {
			return c, err
		}
	}
	for i, p := range many {
		if p == "" {
			continue
		}
		if err := addPhone(&c, n, "phones", i, p); err != nil {
			return c, err
		}
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// Identifiable reports a customer no call could ever find: callers are
// identified by their number or a contract ID, so a customer with neither
// (an empty phone cell, a short line) is a mistake to report, not a record
// to keep. The importer and PUT /edge/v1/customers refuse such lines.
func Identifiable(c *model.Customer) error {
	if len(c.PhonesE164) == 0 && len(c.ContractIDs) == 0 {
		return model.Invalid("phone", "missing, and no contract ID either: no call could ever identify this customer")
	}
	return nil
}

// addPhone normalises raw and appends it to c, naming field (with "[index]"
// unless index is negative) on failure. PhonesE164 stays free of
// duplicates, since each entry is an index key.
func addPhone(c *model.Customer, n *phone.Normalizer, field string, index int, raw string) error {
	e164, ok := n.E164(raw)
	if !ok {
		if index >= 0 {
			field = fmt.Sprintf("%s[%d]", field, index)
		}
		return model.Invalid(field, fmt.Sprintf("not a phone number: %q", raw))
	}
	c.Phones = append(c.Phones, raw)
	for _, have := range c.PhonesE164 {
		if have == e164 {
			return nil
		}
	}
	c.PhonesE164 = append(c.PhonesE164, e164)
	return nil
}

// jsonScalar decodes a string (trimmed), or a number as written if
// numberOK, or null/absent as "".
func jsonScalar(raw json.RawMessage, numberOK bool) (string, error) {
	if len(raw) == 0 {
		return "", nil
	}
	switch c := raw[0]; {
	case c == '"':
		// Strings without escapes need no decoder (the line as a whole was
		// already checked to be valid JSON).
		if bytes.IndexByte(raw, '\\') < 0 {
			return strings.TrimSpace(string(raw[1 : len(raw)-1])), nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return strings.TrimSpace(s), nil
	case c == 'n' && string(raw) == "null":
		return "", nil
	case numberOK && (c == '-' || c >= '0' && c <= '9'):
		return string(raw), nil
	}
	return "", errors.New("wrong type")
}

// jsonStrings decodes an array of scalars (see jsonScalar), or null/absent as
// nil. Empty and null elements become "" and are kept, so that indexes in
// messages match the input. raw has been checked to be valid JSON by the
// caller's decoder, so a small scanner suffices; it is several times faster
// than a second decoder pass.
func jsonStrings(raw json.RawMessage, numberOK bool) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '[' {
		return nil, errors.New("not an array")
	}
	var out []string
	i := skipSpace(raw, 1)
	if i < len(raw) && raw[i] == ']' {
		return nil, nil // like an absent field, as CSV gives it
	}
	for i < len(raw) {
		start := i
		switch c := raw[i]; {
		case c == '"':
			for i++; i < len(raw) && raw[i] != '"'; i++ {
				if raw[i] == '\\' {
					i++
				}
			}
			i++ // closing quote
		case c == '[' || c == '{':
			return nil, errors.New("nested value")
		default: // number, true, false, null
			for i < len(raw) && raw[i] != ',' && raw[i] != ']' && !isSpace(raw[i]) {
				i++
			}
		}
		if i > len(raw) {
			return nil, errors.New("unterminated string")
		}
		s, err := jsonScalar(raw[start:i], numberOK)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		i = skipSpace(raw, i)
		if i >= len(raw) || raw[i] == ']' {
			break
		}
		if raw[i] != ',' {
			return nil, errors.New("malformed array")
		}
		i = skipSpace(raw, i+1)
	}
	return out, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// csvColumns maps a CSV header to the customer fields; -1 marks an absent
// column. phone may name several columns ("phone" and "phones").
type csvColumns struct {
	id, contractIDs, firstname, lastname, company, email int
	phone                                                []int
	names                                                []string // lower-cased header, for messages
}

// newCSVColumns reads the header row. Column names are matched
// case-insensitively; unknown columns are ignored. Without an id column no
// row could be stored, so that is an error naming the header.
func newCSVColumns(header []string) (*csvColumns, error) {
	cols := &csvColumns{id: -1, contractIDs: -1, firstname: -1, lastname: -1, company: -1, email: -1}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		cols.names = append(cols.names, name)
		var dst *int
		switch name {
		case "id":
			dst = &cols.id
		case "contractids", "contractid", "contract_ids":
			dst = &cols.contractIDs
		case "phone", "phones":
			cols.phone = append(cols.phone, i)
		case "firstname":
			dst = &cols.firstname
		case "lastname":
			dst = &cols.lastname
		case "company":
			dst = &cols.company
		case "email":
			dst = &cols.email
		}
		if dst != nil && *dst < 0 { // the first of duplicate columns wins
			*dst = i
		}
	}
	if cols.id < 0 {
		return nil, fmt.Errorf("CSV header has no id column (header: %q)", strings.Join(header, ","))
	}
	return cols, nil
}

// customer builds a validated Customer from one CSV record. Multi-valued
// cells (contract IDs, phones) separate values with ';' or '|'.
func (cols *csvColumns) customer(rec []string, n *phone.Normalizer) (model.Customer, error) {
	for _, f := range rec {
		if !utf8.ValidString(f) {
			return model.Customer{}, errNotUTF8
		}
	}
	cell := func(i int) string {
		if i < 0 || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	c := model.Customer{
		ID:          cell(cols.id),
		ContractIDs: splitMulti(cell(cols.contractIDs)),
		Firstname:   cell(cols.firstname),
		Lastname:    cell(cols.lastname),
		Company:     cell(cols.company),
		Email:       cell(cols.email),
	}
	for _, col := range cols.phone {
		values := splitMulti(cell(col))
		for i, p := range values {
			if len(values) == 1 {
				i = -1
			}
			if err := addPhone(&c, n, cols.names[col], i, p); err != nil {
				return c, err
			}
		}
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// splitMulti splits a multi-valued CSV cell on ';' and '|', trimming values
// and dropping empty ones.
func splitMulti(s string) []string {
	if s == "" {
		return nil
	}
	if !strings.ContainsAny(s, ";|") {
		return []string{s}
	}
	var out []string
	for _, v := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == '|' }) {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
