package callflow

import "github.com/enneo-edge/enneo-edge/model"

// identify fills the ticket's customer and contract: by customerId or
// contractId when the call names them, else by the caller's number. It
// returns how the customer was found, or "".
func identify(tx Tx, c *model.Call, e164 string, t *model.Ticket) string {
	t.CustomerID, t.ContractID = c.CustomerID, c.ContractID
	switch {
	case c.CustomerID != "":
		// The edge's directory may be partial: a given ID is kept as is,
		// and completed with the contract when the customer has just one.
		if cust, err := tx.Customer(c.CustomerID); err == nil && t.ContractID == "" && len(cust.ContractIDs) == 1 {
			t.ContractID = cust.ContractIDs[0]
		}
		return "customerId"
	case c.ContractID != "":
		if id := tx.CustomerByContract(c.ContractID); id != "" {
			t.CustomerID = id
		}
		return "contractId"
	case e164 != "":
		id := tx.CustomerByPhone(e164)
		if id == "" {
			return ""
		}
		t.CustomerID = id
		if cust, err := tx.Customer(t.CustomerID); err == nil && len(cust.ContractIDs) == 1 {
			t.ContractID = cust.ContractIDs[0]
		}
		return "phone"
	}
	return ""
}
