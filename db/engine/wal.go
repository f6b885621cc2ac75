package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// walFileSize is where a WAL file is rotated: a checkpoint starts when the
// current file is half full and normally ends long before the other half
// is used. The size sets how often the database file is fsynced: at
// 1,000 calls/s about every 0.6 s (a 16 MiB half at ~29 KB per commit);
// larger files made the checkpoints, and the stalls behind them, longer
// (BENCHMARKS.md).
const walFileSize = 32 << 20

// walMaxPages is the largest commit that is logged (2 MiB; a single call
// writes 8-22 pages, a group commit of 64 calls at saturation about 100);
// larger ones, bulk imports, are fsynced in place (see prepareCommit). It
// was 24 (one or two calls): at saturation or behind a slow fsync, a third
// of the commits then went in place, each two fdatasyncs on the commit loop
// (the scattered pages, ~5 ms, then the log's new base, ~1.8 ms) while
// every call queued behind it; logged, the same commit is one sequential
// write whose fsync overlaps the next transaction, and the double write is
// paid by the background checkpoint (BENCHMARKS.md, "Where the time goes").
const walMaxPages = 512

// wal makes a commit durable with one sequential write and one fdatasync.
// bbolt alone fsyncs twice per commit, and the first fsync carries the
// commit's 10-15 pages scattered over the file; on the virtio disk this
// was measured on, each separate range costs ~80 µs, so a commit took
// ~1 ms where one contiguous write of the same pages takes ~0.2 ms
// (BENCHMARKS.md). With the WAL, bbolt commits without fsync (NoSync) and
// the pages that commit wrote are appended to the log and fsynced before
// any write of it is answered. A background checkpoint fsyncs the
// database file now and then, after which the log starts over.
//
// After a power loss the database file may hold any mix of its pages; the
// log holds every page written since the last checkpoint, so replaying it
// (RecoverWAL) restores the state of the last logged commit exactly.
type wal struct {
	dbf      *os.File // the database file, read for page images
	sync     func() error
	paths    [2]string
	files    [2]*os.File
	cur      int
	gen      uint64
	off      int64
	size     int64
	pageSize int
	maxPages int // walMaxPages, lowered by tests

	// The last logged commit: its txid, high water mark, freelist (raw
	// sorted entries, in freeBuf) and the meta pages (by slot) as of it.
	txid     uint64
	hwm      uint64
	free     []byte
	freeBuf  []byte
	nextFree []byte // the buffer the next commit's freelist is read into
	metas    [2][]byte

	rec, base walRecord
	written   []uint64
	pbuf      []byte
	runBuf    []byte // pages read back for a record
	copyBuf   []byte

	ckpt     chan error // non-nil while a checkpoint's fsync runs
	ckptTx   uint64
	ckptOff  int64
	ckptMeta [2][]byte

	rotated func() // test hook

	// Observed by /metrics (Engine.LogStats, Options.OnLogSync/OnCheckpoint).
	onSync, onCheckpoint func(took time.Duration)
	bytes, inPlace       atomic.Int64

	mu      sync.Mutex
	durable uint64
	failed  bool
	advance chan struct{}
}

// noLogSpaceError says the log's files could not be reserved (disk nearly
// full, or a file system without fallocate): the store then runs without
// the log rather than not at all.
type noLogSpaceError struct{ err error }

func (e *noLogSpaceError) Error() string { return "wal: " + e.err.Error() }
func (e *noLogSpaceError) Unwrap() error { return e.err }

// openWAL starts a new log at the database's current (fsynced) state.
// RecoverWAL must have run: the files' old contents are overwritten.
func openWAL(path string, b *bolt.DB, size int64) (*wal, error) {
	dbf, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("wal: %w", err)
	}
	w := &wal{dbf: dbf, sync: b.Sync, paths: walPaths(path), size: size,
		pageSize: b.Info().PageSize, maxPages: walMaxPages, gen: rand.Uint64() >> 1, advance: make(chan struct{})}
	if err := w.loadState(); err != nil {
		_ = dbf.Close()
		return nil, err
	}
	created := false
	for i, p := range w.paths {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			created = true
		}
		if w.files[i], err = os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
			w.closeFiles()
			return nil, fmt.Errorf("wal: %w", err)
		}
		// Reserve the space now: a log write that found the disk full would
		// come after bbolt committed, too late to refuse the write cleanly.
		if err := unix.Fallocate(int(w.files[i].Fd()), 0, 0, size); err != nil {
			w.closeFiles()
			for _, p := range w.paths {
				_ = os.Remove(p)
			}
			return nil, &noLogSpaceError{fmt.Errorf("reserve %d bytes for %s: %w", size, p, err)}
		}
		// Fallocate never shrinks: the larger files of an earlier version
		// give the difference back (RecoverWAL has emptied them).
		if st, err := w.files[i].Stat(); err == nil && st.Size() > size {
			if err := w.files[i].Truncate(size); err != nil {
				w.closeFiles()
				return nil, fmt.Errorf("wal: shrink %s: %w", p, err)
			}
		}
	}
	if err := w.writeBase(0, w.gen, w.txid, w.metas); err != nil {
		w.closeFiles()
		return nil, err
	}
	if created {
		if err := SyncDir(filepath.Dir(path)); err != nil {
			w.closeFiles()
			return nil, err
		}
	}
	w.off = walBaseArea(w.pageSize)
	w.durable = w.txid
	return w, nil
}

// loadState reads the current commit's meta pages and freelist.
func (w *wal) loadState() error {
	var cur boltMeta
	for slot := range 2 {
		buf, err := readPages(w.dbf, w.pageSize, uint64(slot), 1, nil)
		if err != nil {
			return fmt.Errorf("wal: meta: %w", err)
		}
		w.metas[slot] = buf
		if m, err := parseMeta(buf); err == nil && m.txid >= cur.txid {
			cur = m
		}
	}
	if cur.pageSize == 0 {
		return errors.New("wal: no valid meta page")
	}
	free, buf, sorted, err := freelistEntries(w.dbf, w.pageSize, cur.freelist, nil)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	if !sorted {
		sortEntries(free)
	}
	w.txid, w.hwm, w.free, w.freeBuf = cur.txid, cur.hwm, free, buf
	return nil
}

// adopt makes transaction m, whose freelist entries are free (read into
// buf), the last logged commit.
func (w *wal) adopt(m boltMeta, metas [2][]byte, free, buf []byte) {
	w.txid, w.hwm, w.metas = m.txid, m.hwm, metas
	w.free, w.freeBuf, w.nextFree = free, buf, w.freeBuf
}

// logCommit appends the commit bbolt just made (without fsync) to the log
// and fsyncs it.
func (w *wal) logCommit() error {
	f, txid, err := w.prepareCommit()
	if err != nil {
		return err
	}
	return w.complete(f, txid)
}

// complete fsyncs the log file a prepared commit was written to (nil: it
// is durable already) and marks the commit durable.
func (w *wal) complete(f *os.File, txid uint64) error {
	if f != nil {
		start := time.Now()
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return fmt.Errorf("wal: fdatasync %s: %w", f.Name(), err)
		}
		if w.onSync != nil {
			w.onSync(time.Since(start))
		}
	}
	w.setDurable(txid)
	return nil
}

// prepareCommit writes the commit bbolt just made to the log without the
// fsync: the caller fsyncs f (nil when the commit is durable already) and
// then calls setDurable(txid). It must run after every write transaction,
// before the next one begins, on the goroutine that committed; the fsync
// may overlap the next transaction.
func (w *wal) prepareCommit() (f *os.File, txid uint64, err error) {
	if err := w.finishCheckpoint(false); err != nil {
		return nil, 0, err
	}
	ps := w.pageSize
	slot := (w.txid + 1) % 2
	metaImg, err := readPages(w.dbf, ps, slot, 1, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("wal: meta: %w", err)
	}
	m, err := parseMeta(metaImg)
	if err != nil {
		return nil, 0, fmt.Errorf("wal: meta of transaction %d: %w", w.txid+1, err)
	}
	other, err := readPages(w.dbf, ps, 1-slot, 1, w.pbuf)
	if err != nil {
		return nil, 0, fmt.Errorf("wal: meta: %w", err)
	}
	w.pbuf = other
	if o, err := parseMeta(other); m.txid != w.txid+1 || (err == nil && o.txid > m.txid) {
		return nil, 0, fmt.Errorf("wal: expected transaction %d, the file is further (written outside the log?)", w.txid+1)
	}
	free, fbuf, sorted, err := freelistEntries(w.dbf, ps, m.freelist, w.nextFree)
	w.nextFree = fbuf
	if err != nil {
		return nil, 0, fmt.Errorf("wal: transaction %d: %w", m.txid, err)
	}
	if !sorted {
		sortEntries(free)
	}
	w.written = writtenPages(w.free, w.hwm, free, m.hwm, w.written)
	metas := w.metas
	metas[slot] = metaImg
	if len(w.written) > w.maxPages {
		// Larger than any group commit of calls (a bulk import): fsyncing
		// its pages in place spares writing megabytes twice. It holds the
		// commit loop for two fsyncs, which is why walMaxPages is not
		// smaller. The file is then durable at this commit: the log
		// restarts.
		if err := w.finishCheckpoint(true); err != nil {
			return nil, 0, err
		}
		if err := w.sync(); err != nil {
			return nil, 0, fmt.Errorf("wal: sync database: %w", err)
		}
		w.inPlace.Add(1)
		if err := w.rotate(m.txid, metas, w.off); err != nil {
			return nil, 0, err
		}
		w.adopt(m, metas, free, fbuf)
		return nil, m.txid, nil
	}
	w.rec.begin(w.gen, m.txid)
	for i := 0; i < len(w.written); {
		j := i + 1
		for j < len(w.written) && w.written[j] == w.written[j-1]+1 {
			j++
		}
		w.runBuf = slices.Grow(w.runBuf[:0], (j-i)*ps)[:(j-i)*ps]
		if _, err := w.dbf.ReadAt(w.runBuf, int64(w.written[i])*int64(ps)); err != nil {
			return nil, 0, fmt.Errorf("wal: read page %d: %w", w.written[i], err)
		}
		w.rec.addPages(w.written[i], w.runBuf, ps)
		i = j
	}
	w.rec.addPages(slot, metaImg, ps)
	f, err = w.append(w.rec.finish(), m.txid, metas)
	if err != nil {
		return nil, 0, err
	}
	w.adopt(m, metas, free, fbuf)
	if w.ckpt == nil && w.off > w.size/2 {
		w.startCheckpoint()
	}
	return f, m.txid, nil
}

// append writes rec (of transaction txid, after which the meta pages are
// metas) to the log, rotating first when it does not fit, and returns the
// file to fsync (nil when the commit was made durable otherwise).
func (w *wal) append(rec []byte, txid uint64, metas [2][]byte) (*os.File, error) {
	if w.off+int64(len(rec)) > w.size {
		if w.ckpt == nil {
			w.startCheckpoint()
		}
		if err := w.finishCheckpoint(true); err != nil {
			return nil, err
		}
		if w.off+int64(len(rec)) > w.size {
			// Larger than a whole file: make the database file itself
			// durable instead, and start the log after this commit.
			if err := w.sync(); err != nil {
				return nil, fmt.Errorf("wal: sync database: %w", err)
			}
			w.inPlace.Add(1)
			return nil, w.rotate(txid, metas, w.off)
		}
		// The record was built for the generation before the rotation.
		restamp(rec, w.gen)
	}
	f := w.files[w.cur]
	if _, err := f.WriteAt(rec, w.off); err != nil {
		return nil, fmt.Errorf("wal: write %s: %w", w.paths[w.cur], err)
	}
	w.off += int64(len(rec))
	w.bytes.Add(int64(len(rec)))
	return f, nil
}

// startCheckpoint fsyncs the database file in the background; once done,
// every commit logged so far is in the file and the log can start over.
func (w *wal) startCheckpoint() {
	ch := make(chan error, 1)
	w.ckpt, w.ckptTx, w.ckptOff = ch, w.txid, w.off
	w.ckptMeta = [2][]byte{slices.Clone(w.metas[0]), slices.Clone(w.metas[1])}
	go func() {
		start := time.Now()
		err := w.sync()
		if err == nil && w.onCheckpoint != nil {
			w.onCheckpoint(time.Since(start))
		}
		ch <- err
	}()
}

// finishCheckpoint rotates the log if the running checkpoint is done (or,
// with wait, once it is).
func (w *wal) finishCheckpoint(wait bool) error {
	if w.ckpt == nil {
		return nil
	}
	var err error
	if wait {
		err = <-w.ckpt
	} else {
		select {
		case err = <-w.ckpt:
		default:
			return nil
		}
	}
	w.ckpt = nil
	if err != nil {
		return fmt.Errorf("wal: checkpoint: sync database: %w", err)
	}
	return w.rotate(w.ckptTx, w.ckptMeta, w.ckptOff)
}

// rotate starts the other file at base txid, whose state the database file
// holds durably, and moves the records logged after it (from offset from
// on) there. The records go first and the base last, each fsynced: a base
// that reads back valid always has its records behind it.
func (w *wal) rotate(txid uint64, metas [2][]byte, from int64) error {
	next, gen := 1-w.cur, w.gen+1
	start := walBaseArea(w.pageSize)
	dst := start
	for p := from; p < w.off; {
		// One record at a time: the tail can be most of a file.
		var h [walHeaderSize]byte
		if _, err := w.files[w.cur].ReadAt(h[:], p); err != nil {
			return fmt.Errorf("wal: read %s: %w", w.paths[w.cur], err)
		}
		n := int64(walHeaderSize) + int64(binary.LittleEndian.Uint32(h[24:]))
		w.copyBuf = slices.Grow(w.copyBuf[:0], int(n))[:n]
		if _, err := w.files[w.cur].ReadAt(w.copyBuf, p); err != nil {
			return fmt.Errorf("wal: read %s: %w", w.paths[w.cur], err)
		}
		restamp(w.copyBuf, gen)
		if _, err := w.files[next].WriteAt(w.copyBuf, dst); err != nil {
			return fmt.Errorf("wal: write %s: %w", w.paths[next], err)
		}
		p, dst = p+n, dst+n
	}
	if dst > start {
		if err := unix.Fdatasync(int(w.files[next].Fd())); err != nil {
			return fmt.Errorf("wal: fdatasync %s: %w", w.paths[next], err)
		}
	}
	if err := w.writeBase(next, gen, txid, metas); err != nil {
		return err
	}
	w.cur, w.gen, w.off = next, gen, dst
	if w.rotated != nil {
		w.rotated()
	}
	return nil
}

// writeBase writes and fsyncs file i's base record.
func (w *wal) writeBase(i int, gen, txid uint64, metas [2][]byte) error {
	w.base.begin(gen, txid)
	copy(w.base.add(0, 1, w.pageSize), metas[0])
	copy(w.base.add(1, 1, w.pageSize), metas[1])
	f := w.files[i]
	if _, err := f.WriteAt(w.base.finish(), 0); err != nil {
		return fmt.Errorf("wal: write %s: %w", w.paths[i], err)
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return fmt.Errorf("wal: fdatasync %s: %w", w.paths[i], err)
	}
	return nil
}

// close makes the database file durable and empties the log, so the next
// start has nothing to replay.
func (w *wal) close() error {
	w.mu.Lock()
	failed := w.failed
	w.mu.Unlock()
	if failed {
		// A failed fsync may have dropped dirty pages that a second one
		// would not report: the log stays for RecoverWAL at the next start.
		w.closeFiles()
		return nil
	}
	err := w.finishCheckpoint(true)
	if err == nil {
		if err = w.sync(); err != nil {
			err = fmt.Errorf("wal: sync database: %w", err)
		}
	}
	if err == nil {
		err = invalidateWAL(w.files[:], w.paths, w.cur)
	}
	w.fail() // wakes readers still waiting
	w.closeFiles()
	return err
}

func (w *wal) closeFiles() {
	for _, f := range w.files {
		if f != nil {
			_ = f.Close()
		}
	}
	_ = w.dbf.Close()
}

func (w *wal) setDurable(txid uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// Monotonic: a commit made durable out of line (the bulk path fsyncs
	// the same file) covers every record before it.
	if w.failed || txid <= w.durable {
		return
	}
	w.durable = txid
	close(w.advance)
	w.advance = make(chan struct{})
}

// fail wakes every reader waiting for durability: nothing more will be
// logged.
func (w *wal) fail() {
	w.mu.Lock()
	if !w.failed {
		w.failed = true
		close(w.advance)
	}
	w.mu.Unlock()
}

// waitDurable waits until transaction txid is logged. A reader that saw a
// commit whose log write is still in flight must not answer from it: after
// a crash in between, recovery would roll that commit back.
func (w *wal) waitDurable(txid uint64) error {
	var timeout <-chan time.Time
	for {
		w.mu.Lock()
		done, failed, ch := w.durable >= txid, w.failed, w.advance
		w.mu.Unlock()
		switch {
		case done:
			return nil
		case failed:
			return ErrFailed
		}
		if timeout == nil {
			timeout = time.After(commitWaitLimit)
		}
		select {
		case <-ch:
		case <-timeout:
			return ErrReadTimeout
		}
	}
}

// commitWaitLimit bounds how long a reader waits for the log.
const commitWaitLimit = 5 * time.Second

// SyncDir fsyncs a directory, so that files created or renamed in it
// survive a power loss.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
