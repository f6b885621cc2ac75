package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/model"
)

// answerBufs recycles answer buffers: the answer is encoded once per call.
var answerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// callReceived is the hot path: decode (copying out of fasthttp's buffer),
// normalise the caller's number, commit, answer.
func (s *Server) callReceived(ctx *fasthttp.RequestCtx) {
	// Enabled is checked first: building the attributes allocates on every
	// call even when debug logging is off.
	debug := s.log.Enabled(context.Background(), slog.LevelDebug)
	var start time.Time
	if debug {
		start = time.Now()
	}
	call, err := model.DecodeCall(ctx.PostBody())
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	nc := db.NewCall{Call: call}
	// Normalised here, outside the transaction: CPU work that must not
	// hold up the group commit.
	if number := call.CustomerNumber(); number != "" {
		nc.CallerE164, _ = s.phone.E164(number)
	}
	c, cancel := context.WithTimeout(context.Background(), s.limits.CommitTimeout)
	res, err := s.store.CreateCall(c, nc)
	cancel()
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	bp := answerBufs.Get().(*[]byte)
	*bp = res.Answer.AppendJSON((*bp)[:0])
	ctx.SetContentType("application/json")
	ctx.SetBody(*bp) // SetBody copies
	answerBufs.Put(bp)
	if !debug {
		return
	}
	msg := "callReceived"
	if res.Duplicate {
		msg = "callReceived repeated"
	}
	s.log.Debug(msg, "channelId", call.ChannelID, "ticketId", res.Answer.TicketID, "routing", call.Routing,
		"direction", call.Direction, "number", nc.CallerE164, "customerId", res.Answer.CustomerID,
		"ms", float64(time.Since(start).Microseconds())/1000)
}
