package health

import "time"

// Upstream is what the forwarder to central reports about itself: app/
// fills it from upstream/ and the outbox; without a forwarder only
// Configured and DeadLetters are known. The status page shows it as JSON.
type Upstream struct {
	Configured bool `json:"configured"`
	// Reachable is nil while nothing was tried yet.
	Reachable   *bool     `json:"reachable"`
	LastError   string    `json:"lastError,omitempty"`
	LastContact time.Time `json:"lastContact,omitzero"`
	// Paused is true after central refused the edge's credentials
	// (401/403): nothing is forwarded until an operator acts.
	Paused      bool   `json:"paused"`
	PauseReason string `json:"pauseReason,omitempty"`
	DeadLetters int64  `json:"deadLetters"`
	// Stuck counts pending records failing for longer than
	// upstream.stuck_after.
	Stuck int64 `json:"stuck"`
	// Directory is the last-known copy of central's agents and lines; nil
	// when it is not pulled.
	Directory *Directory `json:"directory,omitempty"`
}

// Directory is the age and size of the agents and lines last pulled
// from central.
type Directory struct {
	PulledAt   *time.Time `json:"pulledAt"` // nil: never pulled
	AgeSeconds float64    `json:"ageSeconds"`
	Agents     int        `json:"agents"`
	Lines      int        `json:"lines"`
	LastError  string     `json:"lastError,omitempty"`
}
