package server

import (
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/enneo-edge/enneo-edge/auth"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/model"
)

// statusFor maps errors from every layer to HTTP status codes, in one place.
// Storage trouble is never a 200: a commit error or timeout means the
// outcome is unknown and the PBX should retry with the same channelId.
func statusFor(err error) int {
	switch {
	case errors.Is(err, model.ErrInvalid), errors.Is(err, errBadRequest):
		return fasthttp.StatusBadRequest
	case errors.Is(err, auth.ErrMissing), errors.Is(err, auth.ErrInvalid), errors.Is(err, auth.ErrExpired):
		return fasthttp.StatusUnauthorized
	case errors.Is(err, db.ErrNotFound):
		return fasthttp.StatusNotFound
	case errors.Is(err, db.ErrConflict):
		return fasthttp.StatusConflict
	case errors.Is(err, db.ErrCommitTimeout), errors.Is(err, db.ErrClosed), errors.Is(err, db.ErrReadTimeout),
		errors.Is(err, db.ErrFull), errors.Is(err, errOverloaded), errors.Is(err, db.ErrBackupBusy),
		errors.Is(err, db.ErrNoQuorum):
		return fasthttp.StatusServiceUnavailable
	default:
		return fasthttp.StatusInternalServerError
	}
}

// errBadRequest marks request problems found by the server itself (path
// parameters, JSON Lines bodies).
var errBadRequest = errors.New("bad request")

// writeError answers with enneo's error envelope. 5xx texts are generic
// except for storage states the operator must see.
func (s *Server) writeError(ctx *fasthttp.RequestCtx, err error) {
	code := statusFor(err)
	msg := err.Error()
	if code == fasthttp.StatusInternalServerError {
		s.log.Error("request failed", "path", string(ctx.Path()), "err", err)
		msg = "internal error: " + msg
	}
	if code == fasthttp.StatusUnauthorized {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="enneo-edge"`)
		msg = errUnauthorized.Error() // the reason is for the log only
	}
	if code == fasthttp.StatusServiceUnavailable {
		ctx.Response.Header.Set("Retry-After", "1")
	}
	writeErrorText(ctx, code, msg)
}

func writeErrorText(ctx *fasthttp.RequestCtx, code int, msg string) {
	ctx.SetUserValue(reasonKey, msg)
	ctx.SetStatusCode(code)
	ctx.SetContentType("application/json")
	b := append(ctx.Response.Body()[:0], `{"success":false,"error":`...)
	b = model.AppendString(b, msg)
	ctx.Response.SetBodyRaw(append(b, '}'))
}
