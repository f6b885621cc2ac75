// Command seed fills an enneo-edge database with customers and tickets, so
// start-up time and lookups can be measured on a database of a real site's
// size. Tickets go through db.Store.CreateCall (the path the server uses,
// group commit included); customers through the importer's bulk write.
//
//	go run ./bench/seed -db /tmp/big.db -customers 1000000 -tickets 1000000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/model"
)

func main() {
	path := flag.String("db", "seed.db", "bbolt file to fill (created when missing)")
	customers := flag.Int("customers", 1_000_000, "customers to write")
	tickets := flag.Int("tickets", 1_000_000, "tickets to create")
	workers := flag.Int("workers", 512, "concurrent CreateCall callers (they share commits)")
	flag.Parse()
	if err := seed(*path, *customers, *tickets, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func phone(i int) string { return fmt.Sprintf("+49151%08d", i) }

func seed(path string, customers, tickets, workers int) error {
	s, err := db.Open(path, db.Options{SiteID: 1})
	if err != nil {
		return err
	}
	start := time.Now()
	const batch = 10_000
	for i := 0; i < customers; i += batch {
		var cs []model.Customer
		for j := i; j < min(i+batch, customers); j++ {
			id := strconv.Itoa(j + 1)
			cs = append(cs, model.Customer{ID: id, ContractIDs: []string{"C" + id}, Phones: []string{phone(j)},
				PhonesE164: []string{phone(j)}, Firstname: "Erika", Lastname: "Mustermann " + id, Email: "kunde" + id + "@example.org"})
		}
		if err := s.UpsertCustomersBulk(cs); err != nil {
			return err
		}
	}
	fmt.Printf("%d customers in %v\n", customers, time.Since(start).Round(time.Millisecond))

	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	start = time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > tickets {
					return
				}
				c := model.Call{Routing: model.RoutingNative, Direction: model.DirectionIn, Status: model.StatusOpen,
					TriggerAIProcessing: true, Phone: phone(i % max(customers, 1)), ChannelID: "seed-" + strconv.Itoa(i),
					Transcript: []model.TranscriptEntry{{Speaker: "customer", Message: "Meine Abschlagszahlung ist zu hoch."}}}
				if _, err := s.CreateCall(ctx, db.NewCall{Call: c, CallerE164: c.Phone}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	cancel()
	fmt.Printf("%d tickets in %v\n", tickets, time.Since(start).Round(time.Millisecond))
	if err := s.Close(); err != nil {
		return err
	}
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}
