package importer

import (
	"errors"
	"fmt"
	"strings"
)

// Errors of one CSV line. Each record must sit on one physical line: a
// quote left open would otherwise swallow every line after it (and with
// encoding/csv it did, silently, up to the end of the file).
var (
	errOpenQuote  = errors.New(`quoted field not closed on this line (an unbalanced "; fields cannot span lines)`)
	errBareQuote  = errors.New(`bare " in a field that does not start with a quote (write "" inside a quoted field)`)
	errAfterQuote = errors.New(`text after the closing " of a quoted field (write "" for a quote inside it)`)
)

// splitCSVLine splits one line (without its line ending) into fields, per
// RFC 4180: comma-separated, a field may be quoted, "" inside quotes is a
// quote. dst is reused.
func splitCSVLine(line string, dst []string) ([]string, error) {
	dst = dst[:0]
	for {
		if !strings.HasPrefix(line, `"`) {
			i := strings.IndexByte(line, ',')
			field := line
			if i >= 0 {
				field = line[:i]
			}
			if j := strings.IndexByte(field, '"'); j >= 0 {
				return dst, fmt.Errorf("field %d: %w", len(dst)+1, errBareQuote)
			}
			dst = append(dst, field)
			if i < 0 {
				return dst, nil
			}
			line = line[i+1:]
			continue
		}
		// Quoted field: up to the quote not followed by another.
		var b strings.Builder
		rest := line[1:]
		for {
			j := strings.IndexByte(rest, '"')
			if j < 0 {
				return dst, fmt.Errorf("field %d: %w", len(dst)+1, errOpenQuote)
			}
			b.WriteString(rest[:j])
			rest = rest[j+1:]
			if strings.HasPrefix(rest, `"`) {
				b.WriteByte('"')
				rest = rest[1:]
				continue
			}
			break
		}
		dst = append(dst, b.String())
		switch {
		case rest == "":
			return dst, nil
		case rest[0] == ',':
			line = rest[1:]
		default:
			return dst, fmt.Errorf("field %d: %w", len(dst), errAfterQuote)
		}
	}
}
