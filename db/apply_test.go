package db

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/model"
)

// loopReplicator is a log of one member's own: every command is applied,
// at the next index, to each target in turn (the leader first), and the
// leader's answer comes back with its error encoded and decoded as the
// cluster carries it.
type loopReplicator struct {
	idx     uint64
	targets []*Store
	cmds    int
}

func (l *loopReplicator) Submit(ctx context.Context, cmd []byte) ([]byte, error) {
	l.idx++
	l.cmds++
	var first Applied
	for i, s := range l.targets {
		res, err := s.Apply(ctx, []uint64{l.idx}, [][]byte{append([]byte(nil), cmd...)})
		if err != nil {
			return nil, err
		}
		if i == 0 {
			first = res[0]
		}
	}
	if first.Err != nil {
		return nil, DecodeError(EncodeError(first.Err))
	}
	return first.Result, nil
}

func (l *loopReplicator) Barrier(context.Context) error { return nil }

// Every write method, run as a command (encoded, submitted, applied by
// Apply on a leader and a follower), leaves exactly the file the single
// appliance's direct path leaves, and answers the same: the command path
// runs the same method bodies, at the command's time.
func TestCommandsLeaveTheSingleAppliancesFile(t *testing.T) {
	dir := t.TempDir()
	var now time.Time
	clock := func() time.Time { return now }
	o := Options{SiteID: 7, Routing: modelRouting, DisableWAL: true, Clock: funcClock(clock)}
	single, stop1 := startStore(t, filepath.Join(dir, "single.db"), o)
	defer stop1()
	leader, stop2 := startStore(t, filepath.Join(dir, "leader.db"), o)
	defer stop2()
	// The follower's clock is a year off: it must apply at the command's time.
	fo := o
	fo.Clock = funcClock(func() time.Time { return now.AddDate(1, 0, 0) })
	follower, stop3 := startStore(t, filepath.Join(dir, "follower.db"), fo)
	defer stop3()
	repl := &loopReplicator{targets: []*Store{leader, follower}}
	leader.SetReplicator(repl)

	ctx := context.Background()
	hs := int64(42)
	native := func(ch string) NewCall {
		return NewCall{Call: model.Call{Routing: model.RoutingNative, Direction: model.DirectionIn, Status: model.StatusOpen,
			ChannelID: ch, SubchannelID: 1, Phone: "+4930111"}, CallerE164: "+4930111"}
	}
	steps := []struct {
		name string
		run  func(s *Store) (any, error)
	}{
		{"putAgent", func(s *Store) (any, error) {
			return s.PutAgent(ctx, model.Agent{ID: 3, Name: "a", SkillTagIDs: []int64{1}})
		}},
		{"routingStatus", func(s *Store) (any, error) {
			return s.SetRoutingStatus(ctx, 3, model.RoutingStatusChange{CallRoutingStatus: model.PresenceIdle})
		}},
		{"customers", func(s *Store) (any, error) {
			return nil, s.UpsertCustomers(ctx, []model.Customer{{ID: "c1", PhonesE164: []string{"+4930111"}, ContractIDs: []string{"k1"}}, {ID: "c2"}})
		}},
		{"deleteCustomer", func(s *Store) (any, error) { return nil, s.DeleteCustomer(ctx, "c2") }},
		{"deleteCustomer unknown", func(s *Store) (any, error) { return nil, s.DeleteCustomer(ctx, "nobody") }},
		{"callReceived", func(s *Store) (any, error) { return s.CreateCall(ctx, native("ch-1")) }},
		{"callReceived again", func(s *Store) (any, error) { return s.CreateCall(ctx, native("ch-1")) }},
		{"callReceived 2", func(s *Store) (any, error) { return s.CreateCall(ctx, native("ch-2")) }},
		{"agentConnected", func(s *Store) (any, error) {
			return s.AgentConnected(ctx, model.AgentConnected{ChannelID: "ch-1", UserID: 3})
		}},
		{"agentConnected conflict", func(s *Store) (any, error) {
			return s.AgentConnected(ctx, model.AgentConnected{ChannelID: "ch-2", UserID: 3})
		}},
		{"callCompleted", func(s *Store) (any, error) {
			return s.CallCompleted(ctx, model.CallCompleted{ChannelID: "ch-1", HumanDurationSeconds: &hs})
		}},
		{"expireDue", func(s *Store) (any, error) { return s.ExpireDue(ctx) }},
		{"reEvaluate clean", func(s *Store) (any, error) { return nil, s.ReEvaluate(ctx, true) }},
		{"directory", func(s *Store) (any, error) {
			return s.ReplaceDirectory(ctx, Directory{Agents: []model.Agent{{ID: 4, Name: "central"}}, Lines: []model.Line{{ID: 1, TagID: 1}}})
		}},
		{"appendOutbox", func(s *Store) (any, error) {
			return s.AppendOutbox(ctx, OutboxRecord{Kind: KindRoutingStatus, UserID: 3, Body: []byte(`{"x":1}`)})
		}},
		{"recordFailure", func(s *Store) (any, error) { return s.RecordFailure(ctx, 1, Failure{Status: 502, Msg: "bad gateway"}) }},
		{"extendLease", func(s *Store) (any, error) { return nil, s.ExtendSendLease(ctx, 3) }},
		{"markDelivered", func(s *Store) (any, error) { return nil, s.MarkDelivered(ctx, 1, 77) }},
		{"deadLetter", func(s *Store) (any, error) {
			return nil, s.DeadLetter(ctx, 2, DeadReason{Status: 400, Reason: "refused"})
		}},
		{"retryDead", func(s *Store) (any, error) { return s.RetryDead(ctx, 2) }},
		{"retryDead unknown", func(s *Store) (any, error) { return s.RetryDead(ctx, 999) }},
		{"deadLetter again", func(s *Store) (any, error) { return nil, s.DeadLetter(ctx, 2, DeadReason{Reason: "again"}) }},
		{"retryAllDead", func(s *Store) (any, error) { return s.RetryAllDead(ctx) }},
		{"pause", func(s *Store) (any, error) {
			return nil, s.SetPaused(ctx, &PauseState{Since: now, Status: 401, Reason: "token"})
		}},
		{"unpause", func(s *Store) (any, error) { return nil, s.SetPaused(ctx, nil) }},
		{"apiToken", func(s *Store) (any, error) { return nil, s.SetAPIToken(ctx, "sha256-v1\nadmin 00\n") }},
		{"pruneSynced", func(s *Store) (any, error) { return s.PruneSynced(ctx, now, 10) }},
		{"pruneAirGapped", func(s *Store) (any, error) {
			tk, rec, err := s.PruneAirGapped(ctx, now, 10)
			return [2]int{tk, rec}, err
		}},
	}
	now = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for i, st := range steps {
		now = now.Add(time.Second)
		switch st.name {
		case "expireDue":
			now = now.Add(time.Hour) // every timer is due
		case "pruneSynced":
			now = now.Add(48 * time.Hour)
		}
		ra, ea := st.run(single)
		rb, eb := st.run(leader)
		// Compared as the JSON the server answers with (a nil and an
		// empty raw value both answer null).
		ja, _ := json.Marshal(ra)
		jb, _ := json.Marshal(rb)
		if fmt.Sprint(ea) != fmt.Sprint(eb) || (ea == nil && !bytes.Equal(ja, jb)) {
			t.Fatalf("%s: answers differ:\nsingle %s %v\ncommand %s %v", st.name, ja, ea, jb, eb)
		}
		if ea != nil && statusClass(ea) != statusClass(eb) {
			t.Fatalf("%s: the error lost its kind on the way: %v vs %v", st.name, ea, eb)
		}
		ds := dumpState(t, single.eng.Bolt())
		if dl := dumpState(t, leader.eng.Bolt()); !bytes.Equal(ds, dl) {
			t.Fatalf("step %d %s: the command path left another file than the direct path:\n%s\n---\n%s", i, st.name, ds, dl)
		}
		// A write that bypassed the command would be on the leader only.
		if df := dumpState(t, follower.eng.Bolt()); !bytes.Equal(ds, df) {
			t.Fatalf("step %d %s: the follower's file differs", i, st.name)
		}
	}
	if got, _ := follower.AppliedIndex(); got != repl.idx {
		t.Fatalf("follower's applied index %d, want %d", got, repl.idx)
	}
}

// statusClass is which sentinel an error matches (the HTTP status it
// becomes).
func statusClass(err error) string {
	for _, s := range []error{ErrNotFound, ErrConflict, model.ErrInvalid, ErrFull} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "other"
}

// dumpState is dumpDB without what only a cluster member stores (its
// applied index) and the readiness probe.
func dumpState(t *testing.T, d *bolt.DB) []byte {
	t.Helper()
	var out bytes.Buffer
	err := d.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			bk := tx.Bucket(name)
			fmt.Fprintf(&out, "[%s %d]\n", name, bk.Sequence())
			if err := bk.ForEach(func(k, v []byte) error {
				if bytes.Equal(name, bucketMeta) && (bytes.Equal(k, metaApplied) || bytes.Equal(k, metaReadyProbe)) {
					return nil
				}
				fmt.Fprintf(&out, "%x=%x\n", k, v)
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// A batch whose entries were applied before (a restart replays the log
// from its snapshot) is skipped up to the stored index, and a command
// that fails is dropped while the others of its batch commit.
func TestApplySkipsAppliedAndIsolatesFailures(t *testing.T) {
	s, stop := startStore(t, filepath.Join(t.TempDir(), "a.db"), Options{SiteID: 7, DisableWAL: true})
	defer stop()
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	call := func(ch string) []byte {
		c, err := encodeCommand(opCreateCall, at, NewCall{Call: model.Call{Routing: model.RoutingNone, Direction: model.DirectionIn, Status: model.StatusOpen, ChannelID: ch}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	bad, _ := encodeCommand(opCallCompleted, at, model.CallCompleted{TicketID: 12345})
	res, err := s.Apply(ctx, []uint64{5, 6, 7}, [][]byte{call("a"), bad, call("b")})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[2].Err != nil || !errors.Is(res[1].Err, ErrNotFound) {
		t.Fatalf("answers: %+v", res)
	}
	if n, _ := s.AppliedIndex(); n != 7 {
		t.Fatalf("applied index %d, want 7", n)
	}
	// Replayed: 6 and 7 are in the file; only 8 is new.
	res, err = s.Apply(ctx, []uint64{6, 7, 8}, [][]byte{bad, call("b-again"), call("c")})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[0].Result != nil || res[1].Result != nil {
		t.Fatalf("replayed entries were applied again: %+v", res)
	}
	if _, err := s.TicketByChannel("b-again"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("entry 7 replayed with other contents was applied: %v", err)
	}
	for _, ch := range []string{"a", "b", "c"} {
		if _, err := s.TicketByChannel(ch); err != nil {
			t.Fatalf("channel %s: %v", ch, err)
		}
	}
	if n, _ := s.AppliedIndex(); n != 8 {
		t.Fatalf("applied index %d, want 8", n)
	}
	// A command this build cannot decode is not an answer: the batch
	// fails (the member stops rather than skip what the others apply),
	// and nothing of it is stored.
	for _, garbage := range [][]byte{{byte(opCount) + 5, 0, 0, 0, 0, 0, 0, 0, 0}, {1}, append([]byte{byte(opCreateCall), 0, 0, 0, 0, 0, 0, 0, 0}, "{not json"...)} {
		res, err = s.Apply(ctx, []uint64{9, 10}, [][]byte{call("d"), garbage})
		if !errors.Is(err, ErrUndecodable) || res != nil {
			t.Fatalf("batch with an undecodable command %x: %+v, %v", garbage, res, err)
		}
		if n, _ := s.AppliedIndex(); n != 8 {
			t.Fatalf("applied index %d after a failed batch, want 8", n)
		}
		if _, err := s.TicketByChannel("d"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a failed batch stored its first command: %v", err)
		}
	}
}

// funcClock reads the time from a function the test moves.
type funcClock func() time.Time

func (f funcClock) Now() time.Time                       { return f() }
func (funcClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// replay names Store's fields one by one (so that Apply never reads repl,
// which SetReplicator may be writing): a field added to Store without
// being added there would be zero on the apply copy. This counts them.
func TestReplayCopiesEveryField(t *testing.T) {
	const copied, left = 8, 1 // repl is left out on purpose
	if n := reflect.TypeOf(Store{}).NumField(); n != copied+left {
		t.Errorf("Store has %d fields, replay copies %d and leaves out repl: add the new one to replay (apply.go) and to this count", n, copied)
	}
}
