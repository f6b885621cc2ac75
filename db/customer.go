package db

import (
	"context"
	"fmt"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/model"
)

// UpsertCustomers writes a batch of customers in one transaction, replacing
// earlier versions and their index entries. Customers must be valid and
// carry PhonesE164.
func (s *Store) UpsertCustomers(ctx context.Context, batch []model.Customer) error {
	if s.repl != nil {
		return s.submit(ctx, opUpsertCustomers, batch, nil)
	}
	return s.write(ctx, func(tx *bolt.Tx) error {
		for i := range batch {
			if err := upsertCustomer(tx, &batch[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// UpsertCustomersBulk writes customers directly, outside the group commit,
// for the offline importer: large batches would only delay calls there.
func (s *Store) UpsertCustomersBulk(batch []model.Customer) error {
	return s.update(func(tx *bolt.Tx) error {
		for i := range batch {
			if err := upsertCustomer(tx, &batch[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func upsertCustomer(tx *bolt.Tx, c *model.Customer) error {
	byID := tx.Bucket(bucketCustomers)
	if old := byID.Get([]byte(c.ID)); old != nil {
		var prev model.Customer
		if err := json.Unmarshal(old, &prev); err != nil {
			return fmt.Errorf("decode customer %q: %w", c.ID, err)
		}
		if err := unindexCustomer(tx, &prev); err != nil {
			return err
		}
	} else if err := addCount(tx, metaCustomers, 1); err != nil {
		return err
	}
	if err := putJSON(byID, []byte(c.ID), c, "customer "+c.ID); err != nil {
		return err
	}
	byPhone := tx.Bucket(bucketCustomersByPhone)
	for _, p := range c.PhonesE164 {
		if err := byPhone.Put(phoneKey(p, c.ID), nil); err != nil {
			return fmt.Errorf("index phone of customer %q: %w", c.ID, err)
		}
	}
	byContract := tx.Bucket(bucketCustomersByContr)
	for _, k := range c.ContractIDs {
		if err := byContract.Put([]byte(k), []byte(c.ID)); err != nil {
			return fmt.Errorf("index contract %q: %w", k, err)
		}
	}
	return nil
}

func unindexCustomer(tx *bolt.Tx, c *model.Customer) error {
	byPhone := tx.Bucket(bucketCustomersByPhone)
	for _, p := range c.PhonesE164 {
		if err := byPhone.Delete(phoneKey(p, c.ID)); err != nil {
			return fmt.Errorf("unindex phone of customer %q: %w", c.ID, err)
		}
	}
	byContract := tx.Bucket(bucketCustomersByContr)
	for _, k := range c.ContractIDs {
		// Only remove the contract if it still points at this customer.
		if v := byContract.Get([]byte(k)); string(v) == c.ID {
			if err := byContract.Delete([]byte(k)); err != nil {
				return fmt.Errorf("unindex contract %q: %w", k, err)
			}
		}
	}
	return nil
}

// phoneKey lets several customers share a number: the index is a set of
// (number, customer) pairs scanned by prefix.
func phoneKey(e164, id string) []byte {
	k := make([]byte, 0, len(e164)+1+len(id))
	k = append(k, e164...)
	k = append(k, 0)
	return append(k, id...)
}

// Customer returns one customer by ID.
func (s *Store) Customer(id string) (*model.Customer, error) {
	var c *model.Customer
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		c, err = getCustomer(tx, id)
		return err
	})
	return c, err
}

func getCustomer(tx *bolt.Tx, id string) (*model.Customer, error) {
	v := tx.Bucket(bucketCustomers).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("customer %q: %w", id, ErrNotFound)
	}
	c := new(model.Customer)
	if err := json.Unmarshal(v, c); err != nil {
		return nil, fmt.Errorf("decode customer %q: %w", id, err)
	}
	return c, nil
}

// DeleteCustomer removes a customer and its index entries.
func (s *Store) DeleteCustomer(ctx context.Context, id string) error {
	if s.repl != nil {
		return s.submit(ctx, opDeleteCustomer, id, nil)
	}
	return s.write(ctx, func(tx *bolt.Tx) error {
		c, err := getCustomer(tx, id)
		if err != nil {
			return err
		}
		if err := unindexCustomer(tx, c); err != nil {
			return err
		}
		if err := addCount(tx, metaCustomers, -1); err != nil {
			return err
		}
		return tx.Bucket(bucketCustomers).Delete([]byte(id))
	})
}
