package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	bolt "go.etcd.io/bbolt"
)

// op is one call's write set. Its buffers live until the commit answers,
// because bbolt keeps references to Put's key and value until commit.
type op struct {
	id     [8]byte // ticket id, queue id and outbox seq (all sequential)
	chid   [32]byte
	kkey   [32 + 1 + 8]byte
	cnt    [8]byte
	ticket []byte
	outbox []byte
	queue  []byte
	done   chan error
}

var errDup = errors.New("channelId already indexed")

func (o *op) fill(id uint64, chid *[32]byte) {
	binary.BigEndian.PutUint64(o.id[:], id)
	o.chid = *chid
	copy(o.kkey[:32], o.chid[:])
	o.kkey[32] = '/'
	copy(o.kkey[33:], o.id[:])
	o.ticket = ticketVals[id%uint64(len(ticketVals))]
	o.outbox = outboxVals[id%uint64(len(outboxVals))]
	o.queue = queueVals[id%uint64(len(queueVals))]
}

// store is one engine under test.
type store interface {
	// write stores one call durably (or not, per variant) and returns when
	// its commit is done.
	write(o *op) error
	lastID() uint64
	// stats are engine-specific counters for the report (flush/compaction).
	stats() map[string]uint64
	close() error
}

var boltBuckets = []string{"t", "c", "o", "k", "q", "m"}

func openBolt(path string, noSync bool) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("open bolt %s: %w", path, err)
	}
	db.NoSync = noSync
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range boltBuckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	})
	return db, err
}

// boltApply writes a batch of calls in one transaction, as the edge's
// group commit does: a point read of the channel index, five puts and a
// read-modify-write of the counter per call.
func boltApply(tx *bolt.Tx, ops []*op) error {
	t, c, o, k := tx.Bucket([]byte("t")), tx.Bucket([]byte("c")), tx.Bucket([]byte("o")), tx.Bucket([]byte("k"))
	q, m := tx.Bucket([]byte("q")), tx.Bucket([]byte("m"))
	// The edge's append fill for the sequential buckets (db/tuning.go).
	t.FillPercent, q.FillPercent, o.FillPercent = 0.9, 0.9, 0.9
	for _, p := range ops {
		if c.Get(p.chid[:]) != nil {
			return errDup
		}
		var n uint64
		if v := m.Get([]byte("count")); v != nil {
			n = binary.BigEndian.Uint64(v)
		}
		binary.BigEndian.PutUint64(p.cnt[:], n+1)
		for _, e := range []struct {
			b    *bolt.Bucket
			k, v []byte
		}{{t, p.id[:], p.ticket}, {c, p.chid[:], p.id[:]}, {o, p.id[:], p.outbox}, {k, p.kkey[:], []byte{}}, {q, p.id[:], p.queue}, {m, []byte("count"), p.cnt[:]}} {
			if err := e.b.Put(e.k, e.v); err != nil {
				return err
			}
		}
	}
	return nil
}

// boltStore: one group-commit loop goroutine, no batching delay: it takes
// everything waiting, runs one Update, answers all.
type boltStore struct {
	db      *bolt.DB
	ch      chan *op
	commits atomic.Uint64
	quit    chan struct{}
}

func newBoltStore(path string, noSync bool) (*boltStore, error) {
	db, err := openBolt(path, noSync)
	if err != nil {
		return nil, err
	}
	s := &boltStore{db: db, ch: make(chan *op, 4096), quit: make(chan struct{})}
	go s.loop()
	return s, nil
}

func (s *boltStore) loop() {
	defer close(s.quit)
	batch := make([]*op, 0, 4096)
	for first := range s.ch {
		batch = append(batch[:0], first)
	drain:
		for {
			select {
			case p, ok := <-s.ch:
				if !ok {
					break drain
				}
				batch = append(batch, p)
			default:
				break drain
			}
		}
		err := s.db.Update(func(tx *bolt.Tx) error { return boltApply(tx, batch) })
		s.commits.Add(1)
		for _, p := range batch {
			p.done <- err
		}
	}
}

func (s *boltStore) write(o *op) error { s.ch <- o; return <-o.done }

func (s *boltStore) lastID() uint64 {
	var n uint64
	_ = s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte("m")).Get([]byte("count")); v != nil {
			n = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return n
}

func (s *boltStore) stats() map[string]uint64 {
	st := s.db.Stats()
	return map[string]uint64{"commits": s.commits.Load(), "tx_pages_written": uint64(st.TxStats.GetWrite()), "tx_spill_ns": uint64(st.TxStats.GetSpillTime()), "tx_write_ns": uint64(st.TxStats.GetWriteTime())}
}

func (s *boltStore) close() error { close(s.ch); <-s.quit; return s.db.Close() }

// pebbleOptions: defaults, sized for a small appliance.
func pebbleOptions() *pebble.Options {
	o := &pebble.Options{
		MemTableSize:       32 << 20,
		Cache:              pebble.NewCache(64 << 20),
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             quietLogger{},
	}
	return o
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...interface{})      {}
func (quietLogger) Errorf(f string, a ...interface{}) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
func (quietLogger) Fatalf(f string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, f+"\n", a...)
	os.Exit(1)
}

func pkey(dst []byte, prefix byte, k []byte) []byte {
	return append(append(dst[:0], prefix, '/'), k...)
}

// pebbleApply adds one call to batch b, reading db for the channel index
// check and the counter (the counter's value is kept by the caller: the
// read is there for its cost, since the edge reads before it writes).
func pebbleApply(db *pebble.DB, b *pebble.Batch, p *op, count uint64, kb *[64]byte) error {
	k := pkey(kb[:], 'c', p.chid[:])
	if _, cl, err := db.Get(k); err == nil {
		cl.Close()
		return errDup
	} else if err != pebble.ErrNotFound {
		return err
	}
	if v, cl, err := db.Get([]byte("m/count")); err == nil {
		_ = binary.BigEndian.Uint64(v)
		cl.Close()
	} else if err != pebble.ErrNotFound {
		return err
	}
	binary.BigEndian.PutUint64(p.cnt[:], count)
	_ = b.Set(k, p.id[:], nil)
	_ = b.Set(pkey(kb[:], 't', p.id[:]), p.ticket, nil)
	_ = b.Set(pkey(kb[:], 'o', p.id[:]), p.outbox, nil)
	_ = b.Set(pkey(kb[:], 'k', p.kkey[:]), nil, nil)
	_ = b.Set(pkey(kb[:], 'q', p.id[:]), p.queue, nil)
	_ = b.Set([]byte("m/count"), p.cnt[:], nil)
	return nil
}

// pebbleStore commits either through one group-commit loop (like bbolt's)
// or with a batch per writer (each=true), letting pebble's commit pipeline
// group the WAL syncs.
type pebbleStore struct {
	db      *pebble.DB
	wo      *pebble.WriteOptions
	each    bool
	ch      chan *op
	quit    chan struct{}
	count   atomic.Uint64
	commits atomic.Uint64
}

func newPebbleStore(dir string, sync, each bool) (*pebbleStore, error) {
	db, err := pebble.Open(dir, pebbleOptions())
	if err != nil {
		return nil, fmt.Errorf("open pebble %s: %w", dir, err)
	}
	s := &pebbleStore{db: db, wo: pebble.NoSync, each: each, ch: make(chan *op, 4096), quit: make(chan struct{})}
	if sync {
		s.wo = pebble.Sync
	}
	s.count.Store(s.readCount())
	if !each {
		go s.loop()
	} else {
		close(s.quit)
	}
	return s, nil
}

func (s *pebbleStore) readCount() uint64 {
	v, cl, err := s.db.Get([]byte("m/count"))
	if err != nil {
		return 0
	}
	defer cl.Close()
	return binary.BigEndian.Uint64(v)
}

func (s *pebbleStore) loop() {
	defer close(s.quit)
	batch := make([]*op, 0, 4096)
	var kb [64]byte
	for first := range s.ch {
		batch = append(batch[:0], first)
	drain:
		for {
			select {
			case p, ok := <-s.ch:
				if !ok {
					break drain
				}
				batch = append(batch, p)
			default:
				break drain
			}
		}
		b := s.db.NewBatch()
		var err error
		n := s.count.Load()
		for _, p := range batch {
			n++
			if err = pebbleApply(s.db, b, p, n, &kb); err != nil {
				break
			}
		}
		if err == nil {
			err = b.Commit(s.wo)
			s.count.Store(n)
		}
		_ = b.Close()
		s.commits.Add(1)
		for _, p := range batch {
			p.done <- err
		}
	}
}

func (s *pebbleStore) write(p *op) error {
	if !s.each {
		s.ch <- p
		return <-p.done
	}
	var kb [64]byte
	b := s.db.NewBatch()
	defer b.Close()
	if err := pebbleApply(s.db, b, p, s.count.Add(1), &kb); err != nil {
		return err
	}
	s.commits.Add(1)
	return b.Commit(s.wo)
}

func (s *pebbleStore) lastID() uint64 { return s.count.Load() }

func (s *pebbleStore) stats() map[string]uint64 {
	m := s.db.Metrics()
	// Summed per level: Total() folds the WAL bytes into "flushed".
	var flushed, compacted uint64
	for _, l := range m.Levels {
		flushed += l.TableBytesFlushed
		compacted += l.TableBytesCompacted
	}
	return map[string]uint64{
		"commits":               s.commits.Load(),
		"wal_bytes_written":     m.WAL.BytesWritten,
		"flushes":               uint64(m.Flush.Count),
		"compactions":           uint64(m.Compact.Count),
		"table_bytes_flushed":   flushed,
		"table_bytes_compacted": compacted,
		"compaction_debt":       m.Compact.EstimatedDebt,
		"l0_files":              uint64(m.Levels[0].TablesCount),
		"read_amp":              uint64(m.ReadAmp()),
	}
}

func (s *pebbleStore) close() error {
	if !s.each {
		close(s.ch)
	}
	<-s.quit
	return s.db.Close()
}

// nullStore does no storage work: a loop goroutine answers each op as the
// group-commit loops do, so its cost is the harness's own (pacer, goroutine
// hand-offs, id and value generation), to subtract from the others.
type nullStore struct {
	ch      chan *op
	quit    chan struct{}
	commits atomic.Uint64
}

func newNullStore() *nullStore {
	s := &nullStore{ch: make(chan *op, 4096), quit: make(chan struct{})}
	go func() {
		defer close(s.quit)
		for p := range s.ch {
			s.commits.Add(1)
			p.done <- nil
		}
	}()
	return s
}

func (s *nullStore) write(o *op) error        { s.ch <- o; return <-o.done }
func (s *nullStore) lastID() uint64           { return 0 }
func (s *nullStore) stats() map[string]uint64 { return map[string]uint64{"commits": s.commits.Load()} }
func (s *nullStore) close() error             { close(s.ch); <-s.quit; return nil }
