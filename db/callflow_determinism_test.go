package db

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/callflow"
	"github.com/enneo-edge/enneo-edge/model"
)

// TestCallflowDeterministic applies every use case to two copies of the
// same stored state with the same time, and checks after each command
// that both files hold byte-identical buckets (sequences included) and the
// commands answered the same. The next issue replicates these commands
// across appliances: a use case that read a clock, a random source or map
// order would make the copies drift, and this test fail.
func TestCallflowDeterministic(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.db")
	s, stop := startStore(t, seed, Options{SiteID: 7, Routing: modelRouting, DisableWAL: true})
	ctx := context.Background()
	for id := int64(1); id <= 4; id++ {
		if _, err := s.PutAgent(ctx, model.Agent{ID: id, Name: fmt.Sprint("a", id), SkillTagIDs: []int64{1 + id%2}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetRoutingStatus(ctx, id, model.RoutingStatusChange{CallRoutingStatus: model.PresenceIdle}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.UpsertCustomers(ctx, []model.Customer{{ID: "c1", Phones: []string{"+4930111"}, ContractIDs: []string{"k1"}}}); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	a, b := copyDB(t, seed, filepath.Join(dir, "a.db")), copyDB(t, seed, filepath.Join(dir, "b.db"))
	m := callflow.New(callflow.Options{SiteID: 7, Routing: modelRouting})
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	native := func(ch string, line int64) NewCall {
		return NewCall{Call: model.Call{Routing: model.RoutingNative, Direction: model.DirectionIn, Status: model.StatusOpen,
			ChannelID: ch, SubchannelID: line, Phone: "+4930111",
			Transcript: []model.TranscriptEntry{{Speaker: "customer", Message: "Hallo"}}}, CallerE164: "+4930111"}
	}
	hs := int64(42)
	steps := []struct {
		name string
		run  func(tx callflow.Tx, now time.Time) (any, error)
	}{
		{"callReceived native, offered", func(tx callflow.Tx, now time.Time) (any, error) { return m.CreateCall(tx, now, native("c-1", 1)) }},
		{"callReceived native, other skill", func(tx callflow.Tx, now time.Time) (any, error) { return m.CreateCall(tx, now, native("c-2", 2)) }},
		{"callReceived external, no channelId", func(tx callflow.Tx, now time.Time) (any, error) {
			return m.CreateCall(tx, now, NewCall{Call: model.Call{Routing: model.RoutingExternal, Direction: model.DirectionIn,
				Status: model.StatusOpen, ContractID: "k1", TriggerAIProcessing: true}})
		}},
		{"callReceived repeat", func(tx callflow.Tx, now time.Time) (any, error) { return m.CreateCall(tx, now, native("c-1", 1)) }},
		{"agentConnected", func(tx callflow.Tx, now time.Time) (any, error) {
			return m.AgentConnected(tx, now, model.AgentConnected{ChannelID: "c-1", UserID: 3})
		}},
		{"routingStatus conflict", func(tx callflow.Tx, now time.Time) (any, error) {
			return m.SetRoutingStatus(tx, now, 3, model.RoutingStatusChange{CallRoutingStatus: model.PresenceIdle})
		}},
		{"routingStatus break", func(tx callflow.Tx, now time.Time) (any, error) {
			return m.SetRoutingStatus(tx, now, 4, model.RoutingStatusChange{CallRoutingStatus: model.PresenceUnavailable, ChatRoutingStatus: model.PresenceIdle})
		}},
		{"callCompleted", func(tx callflow.Tx, now time.Time) (any, error) {
			return m.CallCompleted(tx, now, model.CallCompleted{ChannelID: "c-1", HumanDurationSeconds: &hs,
				Transcript: []model.TranscriptEntry{{Speaker: "agent", Message: "Tschüss"}}})
		}},
		{"timers after ring and acw", func(tx callflow.Tx, now time.Time) (any, error) { return m.ReEvaluate(tx, now.Add(time.Minute), false) }},
		{"timers clean, max wait", func(tx callflow.Tx, now time.Time) (any, error) { return m.ReEvaluate(tx, now.Add(time.Hour), true) }},
		{"putAgent", func(tx callflow.Tx, now time.Time) (any, error) {
			return m.PutAgent(tx, now, model.Agent{ID: 9, Name: "new", SkillTagIDs: []int64{1, 2}})
		}},
		{"replaceDirectory", func(tx callflow.Tx, now time.Time) (any, error) {
			return m.ReplaceDirectory(tx, now, Directory{Agents: []model.Agent{{ID: 1, Name: "central", SkillTagIDs: []int64{2}}},
				Lines: []model.Line{{ID: 1, TagID: 2, RingTimeSeconds: 5, ACWSeconds: 7}}})
		}},
	}
	for i, st := range steps {
		now := at.Add(time.Duration(i) * time.Second)
		ra, ea := applyTo(t, a, now, st.run)
		t.Logf("%s: %+v %v", st.name, ra, ea)
		rb, eb := applyTo(t, b, now, st.run)
		if fmt.Sprint(ea) != fmt.Sprint(eb) || fmt.Sprintf("%#v", ra) != fmt.Sprintf("%#v", rb) {
			t.Fatalf("%s: answers differ:\n%#v %v\n%#v %v", st.name, ra, ea, rb, eb)
		}
		if da, db := dumpDB(t, a), dumpDB(t, b); !bytes.Equal(da, db) {
			t.Fatalf("%s: the two copies' stored state differs after the same command", st.name)
		}
	}
	// The commands did something: the copies are no longer the seed.
	if bytes.Equal(dumpDB(t, a), dumpDB(t, openBolt(t, filepath.Join(dir, "seed2.db"), seed))) {
		t.Fatal("the commands changed nothing: the test compares empty work")
	}
}

func copyDB(t *testing.T, src, dst string) *bolt.DB {
	t.Helper()
	return openBolt(t, dst, src)
}

func openBolt(t *testing.T, dst, src string) *bolt.DB {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := bolt.Open(dst, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// applyTo runs one use case in one transaction of d; a use case's error
// rolls the transaction back, as the group commit does.
func applyTo(t *testing.T, d *bolt.DB, now time.Time, run func(callflow.Tx, time.Time) (any, error)) (any, error) {
	t.Helper()
	var res any
	var uerr error
	err := d.Update(func(tx *bolt.Tx) error {
		res, uerr = run(schemaTx{tx}, now)
		return uerr
	})
	if err != nil && err != uerr {
		t.Fatal(err)
	}
	return res, uerr
}

// dumpDB is every bucket's sequence, keys and values, in order.
func dumpDB(t *testing.T, d *bolt.DB) []byte {
	t.Helper()
	var out bytes.Buffer
	err := d.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			bk := tx.Bucket(name)
			fmt.Fprintf(&out, "[%s %d]\n", name, bk.Sequence())
			if err := bk.ForEach(func(k, v []byte) error {
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
