package model

import (
	"errors"
	"strings"
	"testing"
)

func TestCustomerFieldLimits(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "+4930" + strings.Repeat("1", 6)
		}
		return out
	}
	tests := []struct {
		name string
		c    Customer
		want string
	}{
		{"ok at the limits", Customer{ID: "A", Firstname: long(MaxNameLength), Lastname: long(MaxNameLength), Company: long(MaxNameLength),
			Email: long(MaxEmailLength), Phones: many(MaxPhones), ContractIDs: many(MaxContractIDs)}, ""},
		{"firstname 900 KB", Customer{ID: "A", Firstname: long(900 << 10)}, "firstname"},
		{"lastname", Customer{ID: "A", Lastname: long(MaxNameLength + 1)}, "lastname"},
		{"company", Customer{ID: "A", Company: long(MaxNameLength + 1)}, "company"},
		{"email", Customer{ID: "A", Email: long(MaxEmailLength + 1)}, "email"},
		{"phone", Customer{ID: "A", Phones: []string{long(MaxPhoneLength + 1)}}, "phones[0]"},
		{"too many phones", Customer{ID: "A", Phones: many(MaxPhones + 1)}, "phones"},
		{"too many contracts", Customer{ID: "A", ContractIDs: many(MaxContractIDs + 1)}, "contractIds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}
