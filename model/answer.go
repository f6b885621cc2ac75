package model

import (
	"strconv"
	"unicode/utf8"
)

// CallAnswer is the 200 body of callReceived.
type CallAnswer struct {
	TicketID   int64
	ContractID string // "" encodes as null
	CustomerID string // "" encodes as null
	IOResponse string
	QueueID    int64 // 0 = omitted (only native routing returns it)
}

// AppendJSON encodes the answer without reflection: it is written once per
// call on the hot path and its shape never changes.
func (a *CallAnswer) AppendJSON(b []byte) []byte {
	b = append(b, `{"success":true,"ticketId":`...)
	b = strconv.AppendInt(b, a.TicketID, 10)
	b = append(b, `,"contractId":`...)
	b = appendNullableString(b, a.ContractID)
	b = append(b, `,"customerId":`...)
	b = appendNullableString(b, a.CustomerID)
	b = append(b, `,"ioResponse":`...)
	b = AppendString(b, a.IOResponse)
	if a.QueueID != 0 {
		b = append(b, `,"queueId":`...)
		b = strconv.AppendInt(b, a.QueueID, 10)
	}
	return append(b, '}')
}

func appendNullableString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return AppendString(b, s)
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, escaping what JSON requires and
// what browsers misread (<, >, &, U+2028, U+2029); invalid UTF-8 becomes U+FFFD.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
