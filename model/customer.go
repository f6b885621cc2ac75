package model

import (
	"fmt"
	"strings"
)

// Customer is one entry of the edge's customer directory, the subset of an
// enneo customer object that identification needs. IDs are strings because
// ERP customer and contract numbers may be non-numeric (up to 50 characters).
type Customer struct {
	ID          string   `json:"id"`
	ContractIDs []string `json:"contractIds"`
	// Phones holds the numbers as given; PhonesE164 the normalised forms the
	// phone index is keyed by (filled by the importer or the API handler).
	Phones     []string `json:"phones,omitempty"`
	PhonesE164 []string `json:"phonesE164,omitempty"`
	Firstname  string   `json:"firstname,omitempty"`
	Lastname   string   `json:"lastname,omitempty"`
	Company    string   `json:"company,omitempty"`
	Email      string   `json:"email,omitempty"`
}

// MaxIDLength bounds customer and contract IDs, as enneo's ERP integration does.
const MaxIDLength = 50

// Validate checks the fields the directory relies on and names the first
// offending one.
func (c *Customer) Validate() error {
	if strings.TrimSpace(c.ID) == "" {
		return Invalid("id", "required")
	}
	if len(c.ID) > MaxIDLength {
		return Invalid("id", fmt.Sprintf("longer than %d characters", MaxIDLength))
	}
	for i, id := range c.ContractIDs {
		if strings.TrimSpace(id) == "" || len(id) > MaxIDLength {
			return Invalid(fmt.Sprintf("contractIds[%d]", i), fmt.Sprintf("must be 1 to %d characters", MaxIDLength))
		}
	}
	return nil
}
