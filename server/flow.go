package server

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/model"
)

// getRouting answers the queue entry of a call by ticketId, queueId or
// channelId. Without forceReEvaluation or cleanState it only reads, so
// polling PBXs never wait for a commit: routing already ran in the
// transaction of every state change and in the timer loop.
func (s *Server) getRouting(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	var (
		rq  db.RoutingQuery
		err error
	)
	if rq.TicketID, err = queryID(args, "ticketId"); err != nil {
		s.writeError(ctx, err)
		return
	}
	if rq.QueueID, err = queryID(args, "queueId"); err != nil {
		s.writeError(ctx, err)
		return
	}
	rq.ChannelID = strings.TrimSpace(string(args.Peek("channelId")))
	if rq.TicketID == 0 && rq.QueueID == 0 && rq.ChannelID == "" {
		s.writeError(ctx, fmt.Errorf("%w: ticketId: required (or queueId or channelId)", errBadRequest))
		return
	}
	force, err := queryBool(args, "forceReEvaluation")
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	clean, err := queryBool(args, "cleanState")
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	testStatus := ""
	if v := args.Peek("testQueueStatusResponse"); len(v) > 0 {
		if testStatus, err = model.CheckQueueStatus("testQueueStatusResponse", string(v)); err != nil {
			s.writeError(ctx, err)
			return
		}
	}
	if (force || clean) && testStatus == "" {
		c, cancel := context.WithTimeout(context.Background(), s.limits.CommitTimeout)
		err := s.store.ReEvaluate(c, clean)
		cancel()
		if err != nil {
			s.writeError(ctx, err)
			return
		}
	}
	ans, err := s.store.Routing(rq)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	if testStatus != "" {
		testAnswer(ans, testStatus)
	}
	writeJSON(ctx, fasthttp.StatusOK, ans)
}

// testDeclines are the reasons testQueueStatusResponse=declined picks from.
var testDeclines = [...][2]string{
	{db.DeclineNoAgents, "No agent with matching skills is logged in"},
	{db.DeclineMaxWait, "Waited too long for an agent"},
}

// testAnswer overrides the status as enneo's test helper does; the
// "random" decline reason is picked by entry ID so tests can predict it.
func testAnswer(a *model.RoutingAnswer, status string) {
	a.Status = status
	a.DeclineReasonCode, a.DeclineReasonMessage, a.DeclineReasonDebugInfos = nil, nil, nil
	if status == model.QueueDeclined {
		r := testDeclines[a.ID%int64(len(testDeclines))]
		debug := "testQueueStatusResponse"
		a.DeclineReasonCode, a.DeclineReasonMessage, a.DeclineReasonDebugInfos = &r[0], &r[1], &debug
	}
}

func queryID(args *fasthttp.Args, name string) (int64, error) {
	v := args.Peek(name)
	if len(v) == 0 {
		return 0, nil
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n <= 0 {
		return 0, model.Invalid(name, "must be a positive integer, got "+strconv.Quote(clipped(v)))
	}
	return n, nil
}

func queryBool(args *fasthttp.Args, name string) (bool, error) {
	switch v := string(args.Peek(name)); v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	default:
		return false, model.Invalid(name, "must be true or false, got "+strconv.Quote(clipped([]byte(v))))
	}
}

func clipped(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

func (s *Server) agentConnected(ctx *fasthttp.RequestCtx) {
	r, err := model.DecodeAgentConnected(ctx.PostBody())
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	c, cancel := context.WithTimeout(context.Background(), s.limits.CommitTimeout)
	defer cancel()
	if _, err := s.store.AgentConnected(c, r); err != nil {
		s.writeError(ctx, err)
		return
	}
	writeSuccess(ctx)
}

func (s *Server) callCompleted(ctx *fasthttp.RequestCtx) {
	r, err := model.DecodeCallCompleted(ctx.PostBody())
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	c, cancel := context.WithTimeout(context.Background(), s.limits.CommitTimeout)
	defer cancel()
	if _, err := s.store.CallCompleted(c, r); err != nil {
		s.writeError(ctx, err)
		return
	}
	writeSuccess(ctx)
}

// routingStatus is PATCH /profile/{id}/routingStatus: the agent's
// presence, compare-and-set with ifCurrent (409 on mismatch).
func (s *Server) routingStatus(ctx *fasthttp.RequestCtx) {
	id, err := pathID(ctx, "id")
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	change, err := model.DecodeRoutingStatus(ctx.PostBody())
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	c, cancel := context.WithTimeout(context.Background(), s.limits.CommitTimeout)
	defer cancel()
	p, err := s.store.SetRoutingStatus(c, id, change)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"success": true, "userId": p.UserID,
		"callRoutingStatus": p.CallRoutingStatus, "chatRoutingStatus": p.ChatRoutingStatus})
}

func (s *Server) routingAvailability(ctx *fasthttp.RequestCtx) {
	id, err := queryID(ctx.QueryArgs(), "userId")
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	rows, err := s.store.RoutingAvailability(id)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"success": true, "agents": rows})
}

func (s *Server) putAgent(ctx *fasthttp.RequestCtx) {
	id, err := pathID(ctx, "id")
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	a, err := model.DecodeAgent(ctx.PostBody())
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	a.ID = id
	c, cancel := context.WithTimeout(context.Background(), s.limits.CommitTimeout)
	defer cancel()
	if a, err = s.store.PutAgent(c, a); err != nil {
		s.writeError(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"success": true, "agent": a})
}

func (s *Server) listAgents(ctx *fasthttp.RequestCtx) {
	agents, err := s.store.Agents()
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	out := make([]agentView, len(agents))
	for i, a := range agents {
		out[i] = agentView{Agent: a.Agent}
		if p := a.Presence; p != nil {
			out[i].Presence = &presenceView{UserID: p.UserID, CallRoutingStatus: p.CallRoutingStatus,
				ChatRoutingStatus: p.ChatRoutingStatus, CurrentTicketID: p.CurrentTicketID,
				UpdatedAt: nullTime(p.UpdatedAt), CallStatusSince: nullTime(p.CallStatusSince)}
		}
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"success": true, "agents": out})
}

// agentView is an agent of GET /edge/v1/agents. A presence never set
// (an agent not logged in yet) has no times: null, as routingAvailability
// shows them, not 0001-01-01.
type agentView struct {
	model.Agent
	Presence *presenceView `json:"presence"`
}

type presenceView struct {
	UserID            int64      `json:"userId"`
	CallRoutingStatus string     `json:"callRoutingStatus"`
	ChatRoutingStatus string     `json:"chatRoutingStatus"`
	CurrentTicketID   int64      `json:"currentTicketId,omitempty"`
	UpdatedAt         *time.Time `json:"updatedAt"`
	CallStatusSince   *time.Time `json:"callRoutingStatusSince"`
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func pathID(ctx *fasthttp.RequestCtx, name string) (int64, error) {
	v := pathParam(ctx, name)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: %s: must be a positive integer, got %q", errBadRequest, name, clipped([]byte(v)))
	}
	return id, nil
}

func writeSuccess(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"success":true}`)
}
