package server

import (
	"bytes"
	"context"
	"fmt"
	"time"

	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/enneo-edge/enneo-edge/cluster"
)

// Cluster is what the server needs of the cluster member it runs on
// (*cluster.Node): its state for GET /edge/v1/cluster, /metrics, readyz and
// the status page, and membership changes.
type Cluster interface {
	Status(ctx context.Context, lags bool) cluster.Status
	Healthy() error
	AddVoter(ctx context.Context, node, addr string) error
	RemoveMember(ctx context.Context, node string) error
}

// WithCluster serves the cluster routes and reports the member; without
// it the appliance runs alone and those routes answer 404.
func WithCluster(c Cluster) Option { return func(s *Server) { s.cluster = c } }

const clusterTimeout = 5 * time.Second

// clusterStatus answers GET /edge/v1/cluster.
func (s *Server) clusterStatus(ctx *fasthttp.RequestCtx) {
	if s.cluster == nil {
		writeErrorText(ctx, fasthttp.StatusNotFound, "not a cluster member: [cluster] is not configured")
		return
	}
	c, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	writeJSON(ctx, fasthttp.StatusOK, s.cluster.Status(c, true))
}

// clusterAddMember answers POST /edge/v1/cluster/members {"node","addr"}.
func (s *Server) clusterAddMember(ctx *fasthttp.RequestCtx) {
	if s.cluster == nil {
		writeErrorText(ctx, fasthttp.StatusNotFound, "not a cluster member: [cluster] is not configured")
		return
	}
	var m struct {
		Node string `json:"node"`
		Addr string `json:"addr"`
	}
	if err := json.Unmarshal(ctx.PostBody(), &m); err != nil || m.Node == "" || m.Addr == "" {
		writeErrorText(ctx, fasthttp.StatusBadRequest, `body must be {"node":"name","addr":"host:port"}`)
		return
	}
	c, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	if err := s.cluster.AddVoter(c, m.Node, m.Addr); err != nil {
		writeErrorText(ctx, fasthttp.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"success": true, "added": m.Node})
}

// clusterRemoveMember answers DELETE /edge/v1/cluster/members/{node}.
func (s *Server) clusterRemoveMember(ctx *fasthttp.RequestCtx) {
	if s.cluster == nil {
		writeErrorText(ctx, fasthttp.StatusNotFound, "not a cluster member: [cluster] is not configured")
		return
	}
	node, _ := ctx.UserValue("node").(string)
	c, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	if err := s.cluster.RemoveMember(c, node); err != nil {
		writeErrorText(ctx, fasthttp.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]any{"success": true, "removed": node})
}

// clusterHealthy is readyz's cluster part: nil alone or with a quorum.
func (s *Server) clusterHealthy() error {
	if s.cluster == nil {
		return nil
	}
	return s.cluster.Healthy()
}

// writeClusterMetrics appends the member's metrics to /metrics.
func (s *Server) writeClusterMetrics(b *bytes.Buffer) {
	if s.cluster == nil {
		return
	}
	c, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st := s.cluster.Status(c, true)
	role := map[string]float64{"follower": 0, "leader": 1, "candidate": 2, "shutdown": 3}[st.Role]
	fmt.Fprintf(b, "# HELP edge_cluster_role This member's role: 0 follower, 1 leader, 2 candidate, 3 shut down.\n# TYPE edge_cluster_role gauge\nedge_cluster_role %g\n", role)
	fmt.Fprintf(b, "# HELP edge_cluster_leader_changes_total Leaders this member has seen elected since it started.\n# TYPE edge_cluster_leader_changes_total counter\nedge_cluster_leader_changes_total %d\n", st.LeaderChanges)
	fmt.Fprintf(b, "# HELP edge_cluster_applied_index Index of the last replicated log entry applied to this member's database.\n# TYPE edge_cluster_applied_index gauge\nedge_cluster_applied_index %d\n", st.AppliedIndex)
	fmt.Fprintf(b, "# HELP edge_cluster_last_leader_change_timestamp_seconds When this member last saw the leader change (Unix time).\n# TYPE edge_cluster_last_leader_change_timestamp_seconds gauge\nedge_cluster_last_leader_change_timestamp_seconds %d\n", st.LastLeaderChange.Unix())
	b.WriteString("# HELP edge_cluster_peer_lag Log entries a member has applied fewer than this one (-1: it did not answer).\n# TYPE edge_cluster_peer_lag gauge\n")
	for _, m := range st.Members {
		if m.Node == st.Node {
			continue
		}
		fmt.Fprintf(b, "edge_cluster_peer_lag{peer=%q} %d\n", m.Node, m.Lag)
	}
}
