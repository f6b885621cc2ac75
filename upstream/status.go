package upstream

import "time"

// Status is the forwarder's live state for GET /edge/v1/outbox; the
// backlog itself is reported by the store.
type Status struct {
	Workers  int `json:"workers"`
	InFlight int `json:"inFlight"`
	// Paused is set while central refuses the edge's credentials.
	Paused       bool       `json:"paused"`
	PausedSince  *time.Time `json:"pausedSince,omitempty"`
	PausedReason string     `json:"pausedReason,omitempty"`
	// RetryAt is when the next attempt goes out while central is treated
	// as down (or, when paused, the next probe).
	RetryAt        *time.Time `json:"retryAt,omitempty"`
	FailuresInARow int        `json:"failuresInARow"`
	KeysBackingOff int        `json:"keysBackingOff"`
	Delivered      int64      `json:"delivered"`
	Retried        int64      `json:"retried"`
	DeadLettered   int64      `json:"deadLettered"`
	Parked         int64      `json:"parked"`
	// Lookups counts the records asked about at central before a re-send;
	// LookupsFound those central had already (each a duplicate avoided).
	Lookups             int64      `json:"lookups"`
	LookupsFound        int64      `json:"lookupsFound"`
	LastSuccessAt       *time.Time `json:"lastSuccessAt,omitempty"`
	LastError           string     `json:"lastError,omitempty"`
	SecondsSinceSuccess float64    `json:"secondsSinceSuccess,omitempty"`
}

// Status reports what the forwarder is doing now.
func (f *Forwarder) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Now()
	s := Status{
		Workers: f.opt.Workers, InFlight: len(f.busy), FailuresInARow: f.failures,
		Delivered: f.st.delivered, Retried: f.st.retried, DeadLettered: f.st.dead, Parked: f.st.parked,
		Lookups: f.st.lookups, LookupsFound: f.st.found,
		LastError: f.st.lastError,
	}
	for _, until := range f.waiting {
		if now.Before(until) {
			s.KeysBackingOff++
		}
	}
	if f.paused != nil {
		since := f.paused.Since
		s.Paused, s.PausedSince, s.PausedReason = true, &since, f.paused.Reason
		at := f.probeAt
		s.RetryAt = &at
	} else if now.Before(f.openTill) {
		at := f.openTill
		s.RetryAt = &at
	}
	if !f.st.lastSuccess.IsZero() {
		at := f.st.lastSuccess
		s.LastSuccessAt = &at
		s.SecondsSinceSuccess = now.Sub(at).Seconds()
	}
	return s
}
