package db

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/model"
)

// walked counts a bucket the slow way, as the kept counts must agree.
func walked(t *testing.T, s *Store, bucket []byte) int {
	t.Helper()
	var n int
	if err := s.eng.Bolt().View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCountsFollowWrites(t *testing.T) {
	s, clk := openForwardTest(t)
	ctx := context.Background()
	customer := func(id string) model.Customer {
		return model.Customer{ID: id, PhonesE164: []string{"+4930" + id}, ContractIDs: []string{"k" + id}}
	}
	steps := []struct {
		name               string
		do                 func(t *testing.T)
		tickets, customers int
	}{
		{"empty", func(*testing.T) {}, 0, 0},
		{"three calls", func(t *testing.T) {
			for _, ch := range []string{"a", "b", "c"} {
				call(t, s, ch)
			}
		}, 3, 0},
		{"a repeated channelId stores nothing", func(t *testing.T) { call(t, s, "a") }, 3, 0},
		{"two new customers", func(t *testing.T) {
			if err := s.UpsertCustomers(ctx, []model.Customer{customer("1"), customer("2")}); err != nil {
				t.Fatal(err)
			}
		}, 3, 2},
		{"a replaced customer is not counted twice", func(t *testing.T) {
			if err := s.UpsertCustomersBulk([]model.Customer{customer("2"), customer("3")}); err != nil {
				t.Fatal(err)
			}
		}, 3, 3},
		{"a deleted customer", func(t *testing.T) {
			if err := s.DeleteCustomer(ctx, "1"); err != nil {
				t.Fatal(err)
			}
		}, 3, 2},
		{"deleting an unknown customer changes nothing", func(t *testing.T) {
			if err := s.DeleteCustomer(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("delete unknown: %v", err)
			}
		}, 3, 2},
		{"a pruned ticket", func(t *testing.T) {
			if err := s.MarkDelivered(ctx, 1, 11); err != nil {
				t.Fatal(err)
			}
			clk.Advance(2 * time.Hour)
			if n, err := s.PruneSynced(ctx, clk.Now().Add(-time.Hour), 100); err != nil || n != 1 {
				t.Fatalf("pruned %d %v, want 1", n, err)
			}
		}, 2, 2},
	}
	for _, st := range steps {
		st.do(t)
		tickets, err := s.TicketCount()
		if err != nil {
			t.Fatal(err)
		}
		customers, err := s.CustomerCount()
		if err != nil {
			t.Fatal(err)
		}
		if tickets != st.tickets || customers != st.customers {
			t.Errorf("%s: counted %d tickets, %d customers; want %d, %d", st.name, tickets, customers, st.tickets, st.customers)
		}
		if w := walked(t, s, bucketTickets); w != tickets {
			t.Errorf("%s: %d tickets counted, %d in the bucket", st.name, tickets, w)
		}
		if w := walked(t, s, bucketCustomers); w != customers {
			t.Errorf("%s: %d customers counted, %d in the bucket", st.name, customers, w)
		}
		if err := errors.Join(s.Check(), s.CheckCounts()); err != nil {
			t.Errorf("%s: check: %v", st.name, err)
		}
	}
}

// A file from a version that did not keep counts: it is counted by
// walking until EstablishCounts has run (read-only opens always walk), and
// calls made while that walk runs are counted too.
func TestCountsAreEstablishedOnUpgrade(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.db")
	s, stop := startStore(t, path, Options{})
	ctx := context.Background()
	for _, ch := range []string{"a", "b"} {
		if _, err := s.CreateCall(ctx, testCall(ch, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.UpsertCustomers(ctx, []model.Customer{{ID: "1"}, {ID: "2"}, {ID: "3"}}); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		return errors.Join(m.Delete(metaTickets), m.Delete(metaCustomers),
			m.Delete(metaTicketsExact), m.Delete(metaCustomersExact))
	}); err != nil || b.Close() != nil {
		t.Fatal(err)
	}

	ro, err := Open(path, Options{SiteID: 5, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	tickets, _ := ro.TicketCount()
	customers, _ := ro.CustomerCount()
	if tickets != 2 || customers != 3 {
		t.Errorf("read-only, before the upgrade: %d tickets, %d customers; want 2, 3", tickets, customers)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}

	var during []string
	s = openTest(t, path, Options{})
	beforeFix := func() {
		// Between the walk's snapshot and the fix: these must count.
		ch := fmt.Sprintf("during-%d", len(during))
		during = append(during, ch)
		if _, err := s.CreateCall(ctx, testCall(ch, 0)); err != nil {
			t.Error(err)
		}
	}
	if _, err := s.CreateCall(ctx, testCall("c", 0)); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.TicketCount(); n != 3 {
		t.Errorf("before the walk: %d tickets, want 3 (counted by walking)", n)
	}
	walked, err := s.establishCounts(ctx, beforeFix)
	if err != nil || !walked {
		t.Fatalf("establish: walked %v, %v", walked, err)
	}
	if len(during) == 0 {
		t.Fatal("nothing was written between the walk and the fix: the case under test did not happen")
	}
	tickets, _ = s.TicketCount()
	customers, _ = s.CustomerCount()
	if tickets != 3+len(during) || customers != 3 {
		t.Errorf("after the walk: %d tickets, %d customers; want %d, 3", tickets, customers, 3+len(during))
	}
	if err := s.CheckCounts(); err != nil {
		t.Error(err)
	}
	if walked, err := s.EstablishCounts(ctx); walked || err != nil {
		t.Errorf("second establish walked %v, %v", walked, err)
	}
}

// A new file's counts are exact from the start: nothing to walk.
func TestNewFileNeedsNoCountWalk(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "edge.db"), Options{})
	if walked, err := s.EstablishCounts(context.Background()); walked || err != nil {
		t.Fatalf("walked %v, %v", walked, err)
	}
}

// CheckCounts reports a kept count that disagrees with its bucket; the
// structural check does not call that damage.
func TestCheckFindsAWrongCount(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "edge.db"), Options{})
	if _, err := s.CreateCall(context.Background(), testCall("a", 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.write(context.Background(), func(tx *bolt.Tx) error {
		return addCount(tx, metaTickets, 5)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("a wrong count is not damage: %v", err)
	}
	err := s.CheckCounts()
	if err == nil || !strings.Contains(err.Error(), "tickets_count says 6, bucket tickets holds 1") {
		t.Fatalf("check counts: %v", err)
	}
}
