package config

import "fmt"

// WALMode is storage.wal: whether commits go through the write-ahead log,
// and what happens when the file system cannot hold it (no fallocate, as
// on some FUSE mounts, or no room for its files).
type WALMode string

const (
	// WALAuto uses the log when it can be made and otherwise runs without
	// it, saying so at start, on the status page, in /readyz and in
	// edge_db_log_enabled. The default.
	WALAuto WALMode = "auto"
	// WALOn requires the log: serve refuses to start without it, naming the
	// cause, rather than give the operator half the latency budget they
	// configured.
	WALOn WALMode = "true"
	// WALOff lets bbolt fsync every commit itself.
	WALOff WALMode = "false"
)

// UnmarshalTOML takes true, false or "auto".
func (m *WALMode) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case bool:
		*m = WALOff
		if v {
			*m = WALOn
		}
		return nil
	case string:
		switch WALMode(v) {
		case WALAuto, WALOn, WALOff:
			*m = WALMode(v)
			return nil
		}
	}
	return fmt.Errorf("must be true, false or \"auto\", got %v", v)
}

// Enabled reports whether the log is to be tried at all.
func (m WALMode) Enabled() bool { return m != WALOff }

// Required reports whether serve must refuse to start without the log.
func (m WALMode) Required() bool { return m == WALOn }
