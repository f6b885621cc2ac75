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

// putCustomers upserts a body of customers: JSON Lines, or CSV with a
// header row when the Content-Type is text/csv (the file `enneo-edge
// import` reads, so an operator need not stop the appliance). It is all or
// nothing: one bad line refuses the whole body, naming every bad line, so a
// client never has to work out which half was stored.
func (s *Server) putCustomers(ctx *fasthttp.RequestCtx) {
	var (
		batch []model.Customer
		errs  []string
	)
	if isCSV(ctx.Request.Header.ContentType()) {
		var sink collectSink
		res, err := importer.Import(bytes.NewReader(ctx.PostBody()), importer.CSV, &sink, importer.Options{Normalizer: s.phone})
		if err != nil {
			s.writeError(ctx, fmt.Errorf("%w: body: %v", errBadRequest, err))
			return
		}
		for _, le := range res.Skipped[:min(len(res.Skipped), maxErrorsShown)] {
			errs = append(errs, le.Error())
		}
		batch = sink.customers
	} else {
		for i, line := range bytes.Split(ctx.PostBody(), []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			c, err := importer.ParseJSONLine(line, s.phone)
			if err == nil {
				err = importer.Identifiable(&c)
			}
			if err != nil {
				if len(errs) < maxErrorsShown {
					errs = append(errs, fmt.Sprintf("line %d: %v", i+1, err))
				}
				continue
			}
			batch = append(batch, c)
		}
	}
	if len(errs) > 0 {
		s.writeError(ctx, fmt.Errorf("%w: %s", errBadRequest, strings.Join(errs, "; ")))
		return
	}
	if len(batch) == 0 {
		s.writeError(ctx, fmt.Errorf("%w: body: no customers (expected JSON Lines, one customer object a line, or CSV with Content-Type: text/csv)", errBadRequest))
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

// isCSV reports a text/csv Content-Type, whatever its parameters.
func isCSV(contentType []byte) bool {
	mt, _, _ := bytes.Cut(contentType, []byte(";"))
	return bytes.EqualFold(bytes.TrimSpace(mt), []byte("text/csv"))
}

// collectSink keeps the customers of a CSV body for one transaction.
type collectSink struct{ customers []model.Customer }

func (c *collectSink) UpsertCustomers(batch []model.Customer) error {
	c.customers = append(c.customers, batch...)
	return nil
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
