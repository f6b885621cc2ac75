package server

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/enneo-edge/enneo-edge/importer"
	"github.com/enneo-edge/enneo-edge/model"
)

// maxErrorsShown bounds the line errors echoed for a bad JSON Lines body.
const maxErrorsShown = 20

// putCustomers upserts a JSON Lines body of customers. It is all or
// nothing: one bad line refuses the whole body, naming every bad line, so a
// client never has to work out which half was stored.
func (s *Server) putCustomers(ctx *fasthttp.RequestCtx) {
	var (
		batch []model.Customer
		errs  []string
	)
	lines := bytes.Split(ctx.PostBody(), []byte("\n"))
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		c, err := importer.ParseJSONLine(line, s.phone)
		if err != nil {
			if len(errs) < maxErrorsShown {
				errs = append(errs, fmt.Sprintf("line %d: %v", i+1, err))
			}
			continue
		}
		batch = append(batch, c)
	}
	if len(errs) > 0 {
		s.writeError(ctx, fmt.Errorf("%w: %s", errBadRequest, strings.Join(errs, "; ")))
		return
	}
	if len(batch) == 0 {
		s.writeError(ctx, fmt.Errorf("%w: body: no customers (expected JSON Lines, one customer object a line)", errBadRequest))
		return
	}
	c, cancel := context.WithTimeout(context.Background(), s.limits.CommitTimeout)
	defer cancel()
	if err := s.store.UpsertCustomers(c, batch); err != nil {
		s.writeError(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"success": true, "upserted": len(batch)})
}

func (s *Server) getCustomer(ctx *fasthttp.RequestCtx) {
	c, err := s.store.Customer(pathParam(ctx, "id"))
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"success": true, "customer": c})
}

func (s *Server) deleteCustomer(ctx *fasthttp.RequestCtx) {
	c, cancel := context.WithTimeout(context.Background(), s.limits.CommitTimeout)
	defer cancel()
	if err := s.store.DeleteCustomer(c, pathParam(ctx, "id")); err != nil {
		s.writeError(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"success": true})
}

func (s *Server) getTicket(ctx *fasthttp.RequestCtx) {
	id, err := strconv.ParseInt(pathParam(ctx, "id"), 10, 64)
	if err != nil || id <= 0 {
		s.writeError(ctx, fmt.Errorf("%w: id: must be a positive integer", errBadRequest))
		return
	}
	t, q, err := s.store.Ticket(id)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, model.TicketView{Success: true, Ticket: t, Queue: q})
}

// pathParam copies a router parameter out of fasthttp's buffers.
func pathParam(ctx *fasthttp.RequestCtx, name string) string {
	v, _ := ctx.UserValue(name).(string)
	return strings.Clone(v)
}
