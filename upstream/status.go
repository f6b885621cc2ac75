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
	Lookups int64 `json:"lookups"`
	// StuckAfterSeconds is how long a record may keep failing before it
	// is reported stuck (upstream.stuck_after).
	StuckAfterSeconds   float64    `json:"stuckAfterSeconds"`
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
		Lookups: f.st.lookups, LookupsFound: f.st.found, StuckAfterSeconds: f.opt.StuckAfter.Seconds(),
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

// StuckAfter is how long a record may keep failing before it is reported
// stuck.
func (f *Forwarder) StuckAfter() time.Duration { return f.opt.StuckAfter }

// RetryNow ends the queue's backoff (central treated as down, or the
// pause's next probe) and looks for records at once: an operator's "try
// again now" after fixing central. Each ticket's own backoff stays: after
// an ambiguous attempt it is the wait before the lookup, and cutting it
// short could send a record a slow central is still committing.
func (f *Forwarder) RetryNow() {
	f.mu.Lock()
	f.openTill, f.failures = time.Time{}, 0
	if f.paused != nil {
		f.probeAt = f.clock.Now()
	}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// InFlight reports whether record seq is being sent or looked up now.
func (f *Forwarder) InFlight(seq uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inFlight[seq]
}
