package server

import (
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// minBackupRate is the slowest client a backup waits for, in bytes/s.
const minBackupRate = 4 << 20

// maxBackupTime is the hard cap on one backup download: the copy it reads
// holds disk space and keeps the next backup waiting.
const maxBackupTime = 30 * time.Minute

// backup streams a consistent copy of the whole database. The store copies
// it to a temporary file at disk speed first, so a slow reader holds up no
// commit. Content-Length is exact, so a client sees a cut-off copy as
// short; `enneo-edge backup` also checks the copy before it keeps it.
func (s *Server) backup(ctx *fasthttp.RequestCtx) {
	b, err := s.store.BeginBackup()
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	size := b.Size()
	// server.write_timeout bounds an answer of a few kilobytes; a whole
	// database takes longer. Allow the copy a slow client (4 MiB/s), and
	// no more, within the hard cap.
	d := min(s.limits.WriteTimeout+time.Duration(size/minBackupRate)*time.Second, maxBackupTime)
	_ = ctx.SetWriteDeadline(time.Now().Add(d))
	ctx.SetContentType("application/octet-stream")
	ctx.Response.Header.Set("Content-Disposition", `attachment; filename="enneo-edge-backup.db"`)
	ctx.Response.Header.Set("X-Edge-Backup-Bytes", strconv.FormatInt(size, 10))
	// fasthttp closes b (an io.Closer) when the answer is sent or the
	// client goes away, which frees the copy.
	ctx.SetBodyStream(b, int(size))
	s.log.Info("backup started", "bytes", size, "remote", ctx.RemoteAddr().String())
}
