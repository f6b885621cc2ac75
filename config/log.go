package config

import (
	"fmt"
	"log/slog"
	"strings"
)

// Log configures what serve writes to its log (stderr: the journal under
// systemd).
type Log struct {
	// Level is the least severe level written: debug, info, warn or error.
	// debug adds a line per call (channelId, ticketId, latency); serve
	// -debug sets it too.
	Level string `toml:"level"`
	// Access writes one info line per request answered (method, route,
	// status, latency, client address), refused or not. Refused requests
	// are logged without it, rate-limited.
	Access bool `toml:"access"`
}

// SlogLevel is Level as a slog level; Validate has checked it.
func (l Log) SlogLevel() slog.Level {
	var v slog.Level
	_ = v.UnmarshalText([]byte(l.Level))
	return v
}

func (l *Log) validate(add func(key, format string, args ...any)) {
	l.Level = strings.ToLower(strings.TrimSpace(l.Level))
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "must be debug, info, warn or error, got %s", fmt.Sprintf("%q", l.Level))
	}
}
