package server

import (
	"io"
	"strconv"

	"github.com/valyala/fasthttp"
)

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
