package model

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner is a strict, single-pass JSON reader for request bodies. It exists
// instead of reflection-based decoding so that every type error can name the
// field as the client spelled it ("agentId", "transcript[2].message") and so
// the hot path decodes without reflection.
type scanner struct {
	b []byte
	i int
}

// maxDepth bounds nesting of ignored values so hostile input cannot exhaust
// the stack; real clients nest two levels deep.
const maxDepth = 512

var (
	errSyntax = errors.New("invalid JSON")
	errDepth  = errors.New("nested too deeply")
)

func (s *scanner) syntax() error {
	return fmt.Errorf("%w at offset %d", errSyntax, s.i)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// kind names the JSON type of the next value for error messages.
func (s *scanner) kind() string {
	switch s.peek() {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// null consumes a null literal if one is next.
func (s *scanner) null() bool {
	return s.peek() == 'n' && s.literal("null")
}

// object calls member for every key of the object at the cursor; member
// must consume the value.
func (s *scanner) object(member func(key []byte) error) error {
	if s.peek() != '{' {
		return s.syntax()
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.syntax()
		}
		key, err := s.rawString()
		if err != nil {
			return err
		}
		if s.peek() != ':' {
			return s.syntax()
		}
		s.i++
		if err := member(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.syntax()
		}
	}
}

// array calls elem for every element of the array at the cursor.
func (s *scanner) array(elem func(i int) error) error {
	if s.peek() != '[' {
		return s.syntax()
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for n := 0; ; n++ {
		if err := elem(n); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.syntax()
		}
	}
}

// rawString returns the decoded bytes of the string at the cursor. When the
// string has no escapes the result aliases the input (callers copy it into a
// Go string); otherwise it is a fresh buffer.
func (s *scanner) rawString() ([]byte, error) {
	s.i++ // opening quote
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			out := s.b[start:s.i]
			s.i++
			if !utf8.Valid(out) {
				return nil, fmt.Errorf("%w: string is not UTF-8 at offset %d", errSyntax, start)
			}
			return out, nil
		case c == '\\':
			return s.escapedString(start)
		case c < 0x20:
			return nil, s.syntax()
		}
		s.i++
	}
	return nil, s.syntax()
}

func (s *scanner) escapedString(start int) ([]byte, error) {
	out := append([]byte(nil), s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			if !utf8.Valid(out) {
				return nil, fmt.Errorf("%w: string is not UTF-8 at offset %d", errSyntax, start)
			}
			return out, nil
		case c < 0x20:
			return nil, s.syntax()
		case c != '\\':
			out = append(out, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return nil, s.syntax()
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return nil, s.syntax()
			}
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					save := s.i
					s.i += 2
					if lo, ok := s.hex4(); ok {
						if d := utf16.DecodeRune(r, lo); d != utf8.RuneError {
							r2 = d
						} else {
							s.i = save
						}
					} else {
						return nil, s.syntax()
					}
				}
				r = r2
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, s.syntax()
		}
	}
	return nil, s.syntax()
}

func (s *scanner) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	s.i += 4
	return r, true
}

// number consumes a JSON number and reports whether it is an integer
// literal (no fraction, no exponent).
func (s *scanner) number() (lit []byte, integer bool, err error) {
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9':
		s.digits()
	default:
		return nil, false, s.syntax()
	}
	integer = true
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return nil, false, s.syntax()
		}
		integer = false
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return nil, false, s.syntax()
		}
		integer = false
	}
	return s.b[start:s.i], integer, nil
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// skip consumes and validates one value of any type.
func (s *scanner) skip(depth int) error {
	if depth > maxDepth {
		return errDepth
	}
	switch s.peek() {
	case '{':
		return s.object(func([]byte) error { return s.skip(depth + 1) })
	case '[':
		return s.array(func(int) error { return s.skip(depth + 1) })
	case '"':
		_, err := s.rawString()
		return err
	case 't':
		if s.literal("true") {
			return nil
		}
	case 'f':
		if s.literal("false") {
			return nil
		}
	case 'n':
		if s.literal("null") {
			return nil
		}
	default:
		_, _, err := s.number()
		return err
	}
	return s.syntax()
}

// Typed readers used by the request decoders. Each returns present=false for
// null, and a FieldError naming field for a value of the wrong type.

func (s *scanner) optString(field string) (v string, present bool, err error) {
	if s.null() {
		return "", false, nil
	}
	if s.peek() != '"' {
		return "", false, s.typeError(field, "a string")
	}
	b, err := s.rawString()
	if err != nil {
		return "", false, err
	}
	return string(b), true, nil
}

func (s *scanner) optInt(field string) (v int64, present bool, err error) {
	if s.null() {
		return 0, false, nil
	}
	c := s.peek()
	if c != '-' && (c < '0' || c > '9') {
		return 0, false, s.typeError(field, "an integer")
	}
	lit, integer, err := s.number()
	if err != nil {
		return 0, false, err
	}
	if !integer {
		return 0, false, Invalid(field, "must be an integer, got "+clip(string(lit)))
	}
	n, err := strconv.ParseInt(string(lit), 10, 64)
	if err != nil {
		return 0, false, Invalid(field, "integer out of range: "+clip(string(lit)))
	}
	return n, true, nil
}

func (s *scanner) optBool(field string) (v, present bool, err error) {
	switch {
	case s.null():
		return false, false, nil
	case s.peek() == 't' && s.literal("true"):
		return true, true, nil
	case s.peek() == 'f' && s.literal("false"):
		return false, true, nil
	}
	return false, false, s.typeError(field, "a boolean")
}

// optID reads an ID that API generations send as string or integer.
func (s *scanner) optID(field string) (string, error) {
	switch c := s.peek(); {
	case s.null():
		return "", nil
	case c == '"':
		v, _, err := s.optString(field)
		return v, err
	case c == '-' || (c >= '0' && c <= '9'):
		lit, integer, err := s.number()
		if err != nil {
			return "", err
		}
		if !integer || lit[0] == '-' {
			return "", Invalid(field, "must be a string or a non-negative integer, got "+clip(string(lit)))
		}
		return string(lit), nil
	}
	return "", s.typeError(field, "a string or an integer")
}

// typeError reports a value of the wrong JSON type. The value is validated
// first so that malformed JSON is reported as such.
func (s *scanner) typeError(field, want string) error {
	got := s.kind()
	if err := s.skip(0); err != nil {
		return err
	}
	return Invalid(field, "must be "+want+", got "+got)
}
