// Package faultfs is a FUSE file system for power-loss tests of real
// processes: a passthrough mount over a backing directory that remembers
// what has not been synced yet, so that Cut can make the backing directory
// hold exactly what a disk would have kept after losing power.
//
// # API
//
//	fsys, err := faultfs.Mount(backing, mountpoint) // both directories must exist
//	// ... run a process with its files under mountpoint ...
//	fsys.Pending()       // what a cut now would undo (files, pages, names)
//	err = fsys.Cut()     // power loss: every later operation fails with EIO and the
//	                     // backing directory is rolled back to the synced state
//	// or fsys.CutTorn(seed): the same, but a random part of the unsynced pages,
//	// sizes and a prefix of the name changes stay, as if written back in time
//	// SIGKILL the process (after Cut: nothing it does now can reach the disk)
//	d := fsys.Dropped()  // what the cut undid: files, pages, names
//	err = fsys.Unmount() // detach the mount (retries while files are still open)
//	// restart the process on backing (or Mount a fresh faultfs over it)
//
// Unmount without Cut is a clean shutdown: everything written stays.
// Available reports whether this machine can mount at all (/dev/fuse, and
// root or fusermount3); Require(t) skips a test with the reason when it
// cannot, and fails it in CI (CI=true). Several mounts may live in one
// process (one per node of a cluster test). Cut and Unmount are safe while
// the process using the mount still runs; Unmount retries for 10 s while
// its files are open, then detaches lazily.
// cmd/faultfs runs the same thing as a separate process: SIGUSR1 cuts,
// SIGUSR2 cuts torn (-seed), SIGTERM unmounts cleanly.
//
// # What it models
//
// Data: bytes written to a file are durable only after fsync or fdatasync
// of that file (any descriptor of the same inode). On Cut, every file's
// content and size go back to what they were at its last sync: writes,
// O_APPEND writes, truncate and ftruncate (also open with O_TRUNC),
// fallocate (size growth; punch-hole, zero, collapse and insert ranges) are
// undone. The first write to a 4 KiB page since the last sync saves that
// page's old content in memory; appends beyond the synced size cost
// nothing.
//
// Names: create, mkdir, mknod, symlink, link, unlink, rmdir and rename
// (also over an existing target, RENAME_NOREPLACE and RENAME_EXCHANGE) go
// to the backing directory at once and into an in-memory journal, in order.
// fsync or fdatasync of a file or a directory commits the journal up to the
// last pending operation that concerns it (the file's own entry, or for a
// directory an entry in it, or the directory itself); everything before
// that point is committed with it, as ext4's single journal does. So a new
// file that was fsynced keeps its name; a rename survives only after an
// fsync of one of the two directories or of the renamed file; a file that
// was only closed is gone after Cut. Cut undoes the uncommitted operations
// in reverse order. Unlinked and overwritten files wait in a hidden
// directory ".faultfs-trash" in the root of the backing directory (not
// visible through the mount) until their removal is committed.
//
// # What it does not model
//
//   - Torn writes inside a 4 KiB page: with Cut a file is at its last sync
//     for every byte; with CutTorn each page is wholly old or wholly new
//     (db/engine/walpowerloss_test.go also tears meta pages in process).
//   - Metadata other than names and sizes: mode, owner, times and xattrs
//     are passed through and survive Cut.
//   - Writable shared mmap is passed through like writes (the kernel sends
//     them as writes), but msync is not a sync here: use fsync.
//   - copy_file_range is refused (ENOTSUP) so the kernel falls back to
//     reads and writes, which are recorded.
//   - fsync is not forwarded to the backing disk: faultfs is about the
//     process's view, not the host's power.
//   - One file system: the backing directory must not contain other mounts.
//   - ext4 with fast commits (or other file systems) may commit less than
//     the journal prefix modelled here; a program that relies on an
//     unrelated fsync to commit a name is wrong there and passes here.
package faultfs
