package callflow

import (
	"bytes"
	"slices"
	"time"

	"github.com/enneo-edge/enneo-edge/model"
)

// SourceCentral marks agents pulled from central enneo.
const SourceCentral = "central"

// Directory is what central said about the site's agents and phone lines
// in one pull.
type Directory struct {
	Agents []model.Agent
	Lines  []model.Line
}

// DirectoryState describes the last-known copy of central's directory.
type DirectoryState struct {
	PulledAt time.Time `json:"pulledAt"`
	Agents   int       `json:"agents"`
	Lines    int       `json:"lines"`
}

// PutAgent creates or replaces an agent's name, skills and raw data. New
// skills take effect at once: a logged-in agent's routing index is
// rewritten and waiting calls are offered again.
func (m *Machine) PutAgent(tx Tx, now time.Time, a model.Agent) (model.Agent, error) {
	err := func() error {
		f := m.newFlow(tx, now)
		a.CreatedAt, a.UpdatedAt = f.now, f.now
		if old, err := tx.Agent(a.ID); err == nil {
			a.CreatedAt = old.CreatedAt
		} else if !isNotFound(err) {
			return err
		}
		if err := tx.PutAgent(&a); err != nil {
			return err
		}
		if tx.Online(a.ID) {
			if err := f.indexOnline(a.ID); err != nil {
				return err
			}
		}
		if _, err := f.dispatch(); err != nil {
			return err
		}
		return f.flush()
	}()
	return a, err
}

// ReplaceDirectory stores a pull from central as the last-known copy, in
// one transaction. Central wins for every agent it lists (an agent PUT by
// hand with the same ID takes central's name and skills); agents only PUT
// at the edge stay as they are. An agent central no longer lists is
// removed once offline, and kept until then. The phone lines are replaced
// whole. Nothing here touches a call: skills and line settings steer only
// offers and timers from now on, so a call ringing or talked on when the
// refresh lands goes on as it was.
func (m *Machine) ReplaceDirectory(tx Tx, now time.Time, d Directory) (DirectoryState, error) {
	var st DirectoryState
	err := func() error {
		f := m.newFlow(tx, now)
		st = DirectoryState{PulledAt: f.now, Agents: len(d.Agents), Lines: len(d.Lines)}
		listed := make(map[int64]bool, len(d.Agents))
		for _, a := range d.Agents {
			listed[a.ID] = true
			if err := f.pulledAgent(a); err != nil {
				return err
			}
		}
		if err := f.dropUnlisted(listed); err != nil {
			return err
		}
		if err := tx.ReplaceLines(d.Lines); err != nil {
			return err
		}
		if err := tx.PutDirectoryState(st); err != nil {
			return err
		}
		if _, err := f.dispatch(); err != nil {
			return err
		}
		return f.flush()
	}()
	return st, err
}

// pulledAgent stores one agent as central lists them, writing only what
// changed so a refresh of an unchanged directory writes nothing but the
// state.
func (f *flow) pulledAgent(a model.Agent) error {
	a.Source, a.CreatedAt, a.UpdatedAt = SourceCentral, f.now, f.now
	if a.SkillTagIDs == nil {
		a.SkillTagIDs = []int64{}
	}
	old, err := f.tx.Agent(a.ID)
	switch {
	case err == nil:
		if old.Source == SourceCentral && old.Name == a.Name && slices.Equal(old.SkillTagIDs, a.SkillTagIDs) &&
			bytes.Equal(old.RawData, a.RawData) {
			return nil
		}
		a.CreatedAt = old.CreatedAt
	case !isNotFound(err):
		return err
	}
	if err := f.tx.PutAgent(&a); err != nil {
		return err
	}
	if f.tx.Online(a.ID) {
		return f.indexOnline(a.ID)
	}
	return nil
}

// dropUnlisted removes agents central listed before and does not now,
// once they are offline.
func (f *flow) dropUnlisted(listed map[int64]bool) error {
	var gone []int64
	err := f.tx.EachAgent(func(a *model.Agent) error {
		if !listed[a.ID] && a.Source == SourceCentral && !f.tx.Online(a.ID) {
			gone = append(gone, a.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range gone {
		if err := f.tx.DeleteAgent(id); err != nil {
			return err
		}
	}
	return nil
}
