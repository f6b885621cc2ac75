package faultfs

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// opKind is one kind of namespace change the journal can undo.
type opKind int

const (
	opCreate   opKind = iota // path was created (file, node, symlink or link); undo removes it
	opMkdir                  // directory path was created; undo removes it
	opTrash                  // path was moved to the trash as aux; undo moves it back
	opRmdir                  // empty directory path was removed; undo makes it again with mode
	opRename                 // path was renamed to aux; undo renames it back
	opExchange               // path and aux were exchanged; undo exchanges them again
)

// nsOp is one uncommitted namespace change. Paths are relative to the
// backing directory and name the state right after the change, so undoing
// in reverse order finds every path where the change left it.
type nsOp struct {
	kind     opKind
	path     string
	aux      string
	mode     uint32
	subjects []uint64 // inodes whose fsync commits this change
	// withNext joins this change to the next one: the target a rename
	// replaced goes with the rename, atomically.
	withNext bool
}

func (o nsOp) String() string {
	return fmt.Sprintf("%d %s %s", o.kind, o.path, o.aux)
}

func (o nsOp) undo(backing string) error {
	p := filepath.Join(backing, o.path)
	switch o.kind {
	case opCreate, opMkdir:
		return os.Remove(p)
	case opTrash:
		return os.Rename(filepath.Join(backing, trashName, o.aux), p)
	case opRmdir:
		return os.Mkdir(p, os.FileMode(o.mode&0o7777))
	case opRename:
		return os.Rename(filepath.Join(backing, o.aux), p)
	case opExchange:
		return unix.Renameat2(unix.AT_FDCWD, p, unix.AT_FDCWD, filepath.Join(backing, o.aux), unix.RENAME_EXCHANGE)
	}
	return fmt.Errorf("unknown journal entry %d", o.kind)
}

// record appends a change; the caller holds nsMu.
func (f *FS) record(op nsOp) { f.journal = append(f.journal, op) }

// commit makes durable every journal entry up to the last one that
// concerns inode ino, as a journal commit of ext4 would.
func (f *FS) commit(ino uint64) {
	f.nsMu.Lock()
	defer f.nsMu.Unlock()
	last := -1
	for i, op := range f.journal {
		for _, s := range op.subjects {
			if s == ino {
				last = i
			}
		}
	}
	for last >= 0 && last+1 < len(f.journal) && f.journal[last].withNext {
		last++
	}
	for _, op := range f.journal[:last+1] {
		if op.kind == opTrash {
			// The removal is durable now: the file goes for good.
			_ = os.RemoveAll(filepath.Join(f.backing, trashName, op.aux))
		}
	}
	f.journal = append([]nsOp(nil), f.journal[last+1:]...)
}

// trash moves the backing path rel into the trash and returns its name
// there; the caller holds nsMu.
func (f *FS) trash(rel string) (string, error) {
	dir := filepath.Join(f.backing, trashName)
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return "", err
	}
	f.trashSeq++
	name := fmt.Sprint(f.trashSeq)
	return name, os.Rename(filepath.Join(f.backing, rel), filepath.Join(dir, name))
}
