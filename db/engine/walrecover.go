package engine

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// RecoverWAL replays the write-ahead log next to the database at path, if
// there is one, and then empties it. After a crash or power loss this
// restores every commit that was acknowledged; after a clean stop there is
// nothing to replay. It returns how many commits it replayed. A database
// another process holds open is left alone (that process recovered it).
// Open runs it (unless Options.Recovered); serve and check run it first so
// that their checks see the recovered file.
func RecoverWAL(path string) (int, error) {
	paths := walPaths(path)
	if !exists(paths[0]) && !exists(paths[1]) {
		return 0, nil
	}
	dbf, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		// The database was removed: its log must not reach a new one.
		for _, p := range paths {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return 0, fmt.Errorf("remove stale %s: %w", p, err)
			}
		}
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("recover %s: %w", path, err)
	}
	defer func() { _ = dbf.Close() }()
	if err := unix.Flock(int(dbf.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return 0, nil
		}
		return 0, fmt.Errorf("recover %s: lock: %w", path, err)
	}
	defer func() { _ = unix.Flock(int(dbf.Fd()), unix.LOCK_UN) }()
	if err := checkFormat(dbf); err != nil {
		return 0, fmt.Errorf("recover %s: %w", path, err)
	}

	pageSize, fileMetas := fileState(dbf)
	log, ok, err := findLog(paths, pageSize)
	if err != nil {
		return 0, fmt.Errorf("recover %s: %w", path, err)
	}
	if ok {
		pageSize = log.pageSize
		if err := log.matches(fileMetas, pageSize); err != nil {
			return 0, fmt.Errorf("recover %s: the write-ahead log %s %w: it belongs to another database; move %s and %s away if the file was replaced on purpose",
				path, paths[log.file], err, paths[0], paths[1])
		}
		for _, rec := range log.records {
			entries, err := recordEntries(rec, pageSize)
			if err != nil {
				return 0, fmt.Errorf("recover %s: %w", path, err)
			}
			for _, e := range entries {
				if _, err := dbf.WriteAt(e.pages, int64(e.id)*int64(pageSize)); err != nil {
					return 0, fmt.Errorf("recover %s: write page %d: %w", path, e.id, err)
				}
			}
		}
		if err := unix.Fdatasync(int(dbf.Fd())); err != nil {
			return 0, fmt.Errorf("recover %s: fdatasync: %w", path, err)
		}
	}
	files := make([]*os.File, 0, 2)
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	for _, p := range paths {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if errors.Is(err, os.ErrNotExist) {
			files = append(files, nil)
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("recover %s: %w", path, err)
		}
		files = append(files, f)
	}
	last := -1
	if ok {
		last = log.file
	}
	if err := invalidateWAL(files, paths, last); err != nil {
		return 0, fmt.Errorf("recover %s: %w", path, err)
	}
	if !ok {
		return 0, nil
	}
	return len(log.records) - 1, nil
}

// fileState reads the database file's page size and its valid meta pages;
// with neither meta page valid (bbolt without fsync can tear one and leave
// the other unwritten), the page size is 0 and the log's is used.
func fileState(f *os.File) (pageSize int, metas []fileMeta) {
	read := func(off int64) (fileMeta, bool) {
		buf := make([]byte, 4096)
		if _, err := f.ReadAt(buf, off); err != nil {
			return fileMeta{}, false
		}
		m, err := parseMeta(buf)
		return fileMeta{m, buf[metaOffset : metaOffset+metaChecksumAt+8]}, err == nil
	}
	// Slot 0 gives the page size and so where slot 1 is; when slot 0 is
	// torn, slot 1 is looked for where bbolt puts it by default.
	m0, ok0 := read(0)
	if ok0 {
		metas = append(metas, m0)
		if m1, ok := read(int64(m0.pageSize)); ok {
			metas = append(metas, m1)
		}
	} else if m1, ok := read(int64(os.Getpagesize())); ok {
		metas = append(metas, m1)
	} else if m1, ok := read(4096); ok {
		metas = append(metas, m1)
	}
	if len(metas) == 0 {
		return 0, nil
	}
	return int(metas[0].pageSize), metas
}

// findLog finds the log to replay; with the page size unknown it tries the
// usual ones (a record only parses with the right one).
func findLog(paths [2]string, pageSize int) (walLog, bool, error) {
	if pageSize != 0 {
		l, ok, err := newestLog(paths, pageSize)
		l.pageSize = pageSize
		return l, ok, err
	}
	for _, ps := range []int{os.Getpagesize(), 4096, 16384, 65536} {
		if l, ok, err := newestLog(paths, ps); err == nil && ok {
			l.pageSize = ps
			return l, true, nil
		}
	}
	return walLog{}, false, nil
}

// fileMeta is a valid meta page of the database file and its bytes.
type fileMeta struct {
	boltMeta
	raw []byte
}

// matches says whether the log continues this file: the file was fsynced
// at the base and at most one commit past the last record can have reached
// it, and every meta page of the file within the log's range must be the
// one the log recorded for that commit.
func (l walLog) matches(file []fileMeta, pageSize int) error {
	top := uint64(0)
	for _, m := range file {
		top = max(top, m.txid)
	}
	// The file was fsynced at the base; after it, one commit's meta page
	// may be torn and the next one's never written, which leaves the meta
	// from before the base (the base record holds it too). At most one
	// commit past the last record can have reached the file.
	if len(file) > 0 && (top+1 < l.base || top > l.last+1) {
		return fmt.Errorf("covers transactions %d..%d but the file is at %d", l.base, l.last, top)
	}
	logged := map[uint64][]byte{}
	for _, rec := range l.records {
		entries, err := recordEntries(rec, pageSize)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.id > 1 {
				continue
			}
			if m, err := parseMeta(e.pages); err == nil {
				logged[m.txid] = e.pages[metaOffset : metaOffset+metaChecksumAt+8]
			}
		}
	}
	for _, m := range file {
		if want, ok := logged[m.txid]; ok && string(want) != string(m.raw) {
			return fmt.Errorf("recorded another commit %d than the file holds", m.txid)
		}
	}
	return nil
}

// newestLog picks the WAL file to replay: the one with the later
// generation when both have a valid base (a rotation was under way).
func newestLog(paths [2]string, pageSize int) (walLog, bool, error) {
	var logs []walLog
	for i, p := range paths {
		l, ok, err := readLog(p, pageSize)
		if err != nil {
			return walLog{}, false, err
		}
		if ok {
			l.file = i
			logs = append(logs, l)
		}
	}
	switch {
	case len(logs) == 0:
		return walLog{}, false, nil
	case len(logs) == 1:
		return logs[0], true, nil
	case logs[1].gen == logs[0].gen+1:
		return logs[1], true, nil
	case logs[0].gen == logs[1].gen+1:
		return logs[0], true, nil
	}
	return walLog{}, false, fmt.Errorf("two unrelated write-ahead logs (%s, %s): move them away and run `enneo-edge check`", paths[0], paths[1])
}

// invalidateWAL overwrites the files' base records, so nothing in them is
// replayed again; the files keep their blocks for reuse. The current log
// (index current, -1 for none) is cleared last: the other file still holds
// an older log, which must never be the only one left.
func invalidateWAL(files []*os.File, paths [2]string, current int) error {
	zero := make([]byte, walHeaderSize)
	for _, i := range clearOrder(current) {
		f := files[i]
		if f == nil {
			continue
		}
		if _, err := f.WriteAt(zero, 0); err != nil {
			return fmt.Errorf("clear %s: %w", paths[i], err)
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return fmt.Errorf("clear %s: fdatasync: %w", paths[i], err)
		}
	}
	return nil
}

// clearOrder is the order in which invalidateWAL clears the files.
func clearOrder(current int) [2]int {
	if current == 0 {
		return [2]int{1, 0}
	}
	return [2]int{0, 1}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
