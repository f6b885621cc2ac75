package db

import (
	"context"
	"fmt"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/callflow"
)

// NewCall is a validated callReceived with the lookups the server prepared
// outside the transaction (callflow.NewCall).
type NewCall = callflow.NewCall

// CallResult is what callReceived answers (callflow.CallResult).
type CallResult = callflow.CallResult

// Decline reason codes the edge's distributor gives (callflow's).
const (
	DeclineNoAgents = callflow.DeclineNoAgents
	DeclineMaxWait  = callflow.DeclineMaxWait
)

// CreateCall stores a call in one transaction (callflow.Machine.CreateCall):
// the ticket, its channelId index entry, the queue entry, presence changes
// and the outbox record for central. It returns after the transaction is
// fsynced. A channelId the edge already knows returns the first call's
// answer and writes nothing.
func (s *Store) CreateCall(ctx context.Context, nc NewCall) (CallResult, error) {
	// A known channelId is answered from this member's committed state
	// without queueing behind writes (in a cluster too: what a member
	// holds is on a quorum). On a single appliance only a channelId this
	// process stored lately (recent.go) is looked up first; any other
	// goes straight to the group commit, whose transaction checks the
	// index, sparing a new call a read transaction. In a cluster every
	// one is (a re-send may have been stored through another member), and
	// one not found is looked up again inside the command's transaction.
	if nc.Call.ChannelID != "" && s.inTx == nil && (s.repl != nil || s.recent.mayHave(nc.Call.ChannelID)) {
		if res, ok, err := s.existingCall(nc.Call.ChannelID); err != nil || ok {
			return res, err
		}
	}
	var res CallResult
	if s.repl != nil {
		err := s.submit(ctx, opCreateCall, nc, &res)
		return res, err
	}
	// s.write directly, not apply: the hot path spares apply's closure.
	err := s.write(ctx, func(tx *bolt.Tx) error {
		var err error
		res, err = s.flow.CreateCall(schemaTx{tx}, s.now(), nc)
		return err
	})
	if err != nil {
		return CallResult{}, err
	}
	if nc.Call.ChannelID != "" {
		s.recent.add(nc.Call.ChannelID)
	}
	return res, nil
}

// existingCall answers a repeated channelId from committed state, without
// queueing behind writes.
func (s *Store) existingCall(channelID string) (res CallResult, ok bool, err error) {
	var id int
	err = s.eng.Bolt().View(func(tx *bolt.Tx) error {
		id = tx.ID()
		res, ok, err = callflow.Existing(schemaTx{tx}, channelID)
		return err
	})
	// Only an answer must wait for the log: a channelId not found yet goes
	// to the group commit, which checks again in its transaction, so a new
	// call never waits for the previous commit's fsync here.
	if err == nil && ok {
		err = s.eng.WaitDurable(uint64(id))
	}
	return res, ok, err
}

func putJSON(b *bolt.Bucket, key []byte, v any, what string) error {
	buf, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", what, err)
	}
	if err := b.Put(key, buf); err != nil {
		return fmt.Errorf("put %s: %w", what, err)
	}
	return nil
}

// CreateCallsBulk stores a batch of calls in one direct transaction,
// outside the group commit (like UpsertCustomersBulk), each exactly as
// CreateCall would: for seeding a database of a real site's size
// (bench/seed, bench/scale), where a million group commits would take
// minutes. A channelId already known writes nothing, as in CreateCall
// (callflow answers the repeat).
func (s *Store) CreateCallsBulk(batch []NewCall) error {
	return s.update(func(tx *bolt.Tx) error {
		x := schemaTx{tx}
		for _, nc := range batch {
			if _, err := s.flow.CreateCall(x, s.now(), nc); err != nil {
				return err
			}
		}
		return nil
	})
}
