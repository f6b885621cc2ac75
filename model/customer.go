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

// Bounds on the other fields, so one upload cannot fill the disk with a
// few customers: generous for real names and addresses, far below what
// a body may carry.
const (
	MaxNameLength  = 200 // firstname, lastname, company
	MaxEmailLength = 254 // RFC 5321's path limit
	MaxPhoneLength = 64
	MaxPhones      = 20
	MaxContractIDs = 100
)

// Validate checks the fields the directory relies on and names the first
// offending one.
func (c *Customer) Validate() error {
	if strings.TrimSpace(c.ID) == "" {
		return Invalid("id", "required")
	}
	if len(c.ID) > MaxIDLength {
		return Invalid("id", fmt.Sprintf("longer than %d characters", MaxIDLength))
	}
	if len(c.ContractIDs) > MaxContractIDs {
		return Invalid("contractIds", fmt.Sprintf("more than %d", MaxContractIDs))
	}
	for i, id := range c.ContractIDs {
		if strings.TrimSpace(id) == "" || len(id) > MaxIDLength {
			return Invalid(fmt.Sprintf("contractIds[%d]", i), fmt.Sprintf("must be 1 to %d characters", MaxIDLength))
		}
	}
	if len(c.Phones) > MaxPhones {
		return Invalid("phones", fmt.Sprintf("more than %d", MaxPhones))
	}
	for i, p := range c.Phones {
		if len(p) > MaxPhoneLength {
			return Invalid(fmt.Sprintf("phones[%d]", i), fmt.Sprintf("longer than %d bytes", MaxPhoneLength))
		}
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"firstname", c.Firstname, MaxNameLength},
		{"lastname", c.Lastname, MaxNameLength},
		{"company", c.Company, MaxNameLength},
		{"email", c.Email, MaxEmailLength},
	} {
		if len(f.v) > f.max {
			return Invalid(f.name, fmt.Sprintf("longer than %d bytes", f.max))
		}
	}
	return nil
}
