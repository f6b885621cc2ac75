package server

import (
	"io"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// minBackupRate is the slowest client a backup waits for, in bytes/s.
const minBackupRate = 4 << 20

// backup streams a consistent copy of the whole database (bbolt's
// Tx.WriteTo) while calls keep being committed. Content-Length is exact, so
// a client sees a cut-off copy as short; `enneo-edge backup` also checks
// the copy before it keeps it.
func (s *Server) backup(ctx *fasthttp.RequestCtx) {
	b, err := s.store.BeginBackup()
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	size := b.Size()
	// server.write_timeout bounds an answer of a few kilobytes; a whole
	// database takes longer. Allow the copy a slow client (4 MiB/s), and
	// no more: an open backup keeps a commit that grows the file waiting.
	_ = ctx.SetWriteDeadline(time.Now().Add(s.limits.WriteTimeout + time.Duration(size/minBackupRate)*time.Second))
	pr, pw := io.Pipe()
	go func() {
		// fasthttp closes pr when the client goes away, which ends
		// WriteTo with an error and releases the pinned state.
		_, err := b.WriteTo(pw)
		if cerr := b.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			s.log.Warn("backup not completed", "err", err)
		}
		_ = pw.CloseWithError(err)
	}()
	ctx.SetContentType("application/octet-stream")
	ctx.Response.Header.Set("Content-Disposition", `attachment; filename="enneo-edge-backup.db"`)
	ctx.Response.Header.Set("X-Edge-Backup-Bytes", strconv.FormatInt(size, 10))
	ctx.SetBodyStream(pr, int(size))
	s.log.Info("backup started", "bytes", size, "remote", ctx.RemoteAddr().String())
}
