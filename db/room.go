package db

import (
	"fmt"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/enneo-edge/enneo-edge/db/engine"
)

// minRoomReserve is the least room RoomFor keeps free below the cap.
const minRoomReserve = 256 << 10

// roomReserve is what RoomFor keeps free below a cap of max bytes: a
// 32nd of it (of nothing: no cap), at least minRoomReserve. It is room for the commands
// already appended but not yet applied, for the pages a command's
// copy-on-write takes beyond its own size, and for the prunes that free
// space, which RoomFor never refuses.
func roomReserve(capBytes int64) int64 { return max(capBytes/32, minRoomReserve) }

// RoomFor is nil when the file has room for cmd, else an ErrFull that
// says whose disk and why. A cluster's leader asks it before it appends
// a command: once a command is on the log every member must apply it, so
// a write that does not fit has to be refused before, where a single
// appliance lets the commit fail (nothing stored, 503). It is an estimate
// (what a command takes is known only when it runs): the pages in use,
// plus cmd's size, plus roomReserve, against the cap (storage.max_size_bytes),
// and, when the file would have to grow, that reserve against the free
// disk. The commands that free space (the retention prunes) are never
// refused, or a full store could not make room, and the forwarder's
// progress and the timers may use three quarters of the reserve.
func (s *Store) RoomFor(cmd []byte) error {
	reserve := roomReserve(max(s.max, 0))
	if len(cmd) >= 1 {
		switch Op(cmd[0]) {
		case opPruneSynced, opPruneAirGapped:
			return nil
		case opMarkDelivered, opRecordFailure, opDeadLetter, opExtendSendLease, opExpireDue:
			// The forwarder's progress and the timers rewrite what is
			// there and let retention prune (synced records only): they
			// keep a quarter of the reserve, the rest is theirs.
			reserve /= 4
		}
	}
	// The pages up to the high-water mark, less the free ones bbolt
	// reuses before it grows the file.
	var used, highWater int64
	err := s.eng.Bolt().View(func(tx *bolt.Tx) error {
		highWater = tx.Size()
		return nil
	})
	if err != nil {
		return fmt.Errorf("room for a command: %w", err)
	}
	st := s.eng.Bolt().Stats()
	used = highWater - int64(st.FreePageN+st.PendingPageN)*int64(s.eng.Bolt().Info().PageSize)
	need := int64(len(cmd))
	if s.max > 0 {
		if used+need+reserve > s.max {
			return fmt.Errorf("%w: %s holds %d bytes in use of its cap of %d (storage.max_size_bytes), keeping %d free; "+
				"wait for retention to prune, or raise the cap on every member", ErrFull, s.path, used, s.max, reserve)
		}
	}
	if used+need+reserve > highWater {
		dir := filepath.Dir(s.path)
		if free, ok := engine.FreeBytes(dir); ok && int64(free) < need+reserve {
			return fmt.Errorf("%w: the disk of %s has %d bytes free, below the %d kept for writes; free space there",
				ErrFull, dir, free, need+reserve)
		}
	}
	return nil
}
