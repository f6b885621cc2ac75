package db

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/enneo-edge/enneo-edge/db/engine"
)

// minDerivedMaxSize is the least cap ResolveMaxSize derives: below it a
// busy site could not keep a day of calls.
const minDerivedMaxSize = 64 << 20

// MaxSizeFile is where ResolveMaxSize keeps the cap it derived for the
// database at path.
func MaxSizeFile(path string) string { return path + ".max-size" }

// ResolveMaxSize turns storage.max_size_bytes into the cap to open the
// database with. A configured value (0: no cap, or a size) is used as
// is; a negative one asks for a derived cap. That is derived once, when
// first asked for: the database's current size (0 before the first start)
// plus half the disk then free beside it, at least 64 MiB. It is written
// to MaxSizeFile and read from there on later starts, so the cap does not
// shrink as the disk fills, and an operator can read or change it there.
// derived reports that this call derived it.
func ResolveMaxSize(path string, configured int64) (size int64, derived bool, err error) {
	if configured >= 0 {
		return configured, false, nil
	}
	file := MaxSizeFile(path)
	b, err := os.ReadFile(file)
	switch {
	case err == nil:
		n, perr := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if perr != nil || n < 0 {
			return 0, false, fmt.Errorf("storage.max_size_bytes: %s must hold a byte count (0: no cap), got %q", file, strings.TrimSpace(string(b)))
		}
		return n, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return 0, false, fmt.Errorf("storage.max_size_bytes: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, false, fmt.Errorf("storage.max_size_bytes: %w", err)
	}
	free, ok := engine.FreeBytes(dir)
	if !ok {
		return 0, false, fmt.Errorf("storage.max_size_bytes: cannot tell the free disk in %s; set a size or 0 (no cap)", dir)
	}
	var current int64
	if st, err := os.Stat(path); err == nil {
		current = st.Size()
	}
	size = max(current+int64(free/2), minDerivedMaxSize)
	if err := writeSynced(file, func(w io.Writer) error {
		_, err := io.WriteString(w, strconv.FormatInt(size, 10)+"\n")
		return err
	}); err != nil {
		return 0, false, fmt.Errorf("storage.max_size_bytes: keep the derived cap: %w", err)
	}
	return size, true, nil
}

// writeSynced writes a file so that a power loss leaves the old one
// or the whole new one: through a temporary file, fsynced, renamed and its
// directory fsynced. A plain write can leave the name with no content
// (ext4's delayed allocation, tests/powerloss), and serve would refuse to
// start on the empty cap file.
func writeSynced(path string, write func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return engine.SyncDir(filepath.Dir(path))
}
