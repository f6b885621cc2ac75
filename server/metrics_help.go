package server

import (
	"bytes"
	"strings"
	"sync"

	"github.com/VictoriaMetrics/metrics"
)

// exposeMetadata turns on the library's # HELP and # TYPE lines. It is the
// library's one process-wide switch; every registry here wants it.
var exposeMetadata sync.Once

// metricHelp is the # HELP text of every family /metrics shows; a family
// missing here fails TestMetricsHaveHelpAndType.
var metricHelp = map[string]string{
	"edge_agents":                         "Agents the edge knows (configured or seen through presence) by call routing status; -1 when the read failed.",
	"edge_build_info":                     "Always 1; the labels name the running build (version, VCS commit, Go version).",
	"edge_calls_overloaded_total":         "callReceived answered 503 at once because server.max_pending_commits calls were waiting for a commit.",
	"edge_calls_pending_commit":           "Calls admitted and waiting for their commit now.",
	"edge_customers_stored":               "Customers in the local directory.",
	"edge_tickets_stored":                 "Tickets in the database (retention prunes synced ones).",
	"edge_db_checkpoint_duration_seconds": "Duration of one checkpoint fsync of the database file.",
	"edge_db_commit_batch_size":           "Writes carried by one group commit.",
	"edge_db_commit_duration_seconds":     "Duration of one successful group commit, including its fsync.",
	"edge_db_commit_errors_total":         "Failed group commits by kind: full (storage.max_size_bytes reached) or io.",
	"edge_db_commit_writes_total":         "Writes committed (each call, presence change or import batch is one).",
	"edge_db_commits_total":               "Successful group commits (one fsync each).",
	"edge_db_failed":                      "1 after a commit failed: the process exits to restart from the file.",
	"edge_db_log_bytes_total":             "Bytes appended to the write-ahead log since start.",
	"edge_db_log_enabled":                 "1 when commits go through the write-ahead log (storage.wal), 0 when bbolt fsyncs each commit itself.",
	"edge_db_log_large_commits_total":     "Commits too large for the write-ahead log, written to the file directly.",
	"edge_db_log_sync_duration_seconds":   "Duration of one fdatasync of the write-ahead log.",
	"edge_db_max_size_bytes":              "The database's cap, storage.max_size_bytes (0: no cap). At the cap callReceived answers 503.",
	"edge_db_size_bytes":                  "Size of the database file, without its write-ahead log files.",
	"edge_http_refused_not_logged_total":  "Refused requests not logged because more than 10 a second were refused (they are counted in edge_http_refused_total).",
	"edge_http_refused_total":             "Requests refused (4xx, 503) by status code.",
	"edge_http_request_duration_seconds":  "Time from request read to answer written, by route pattern.",
	"edge_http_requests_total":            "Requests answered by route pattern and status code.",
	"edge_outbox_dead_letters":            "Records central refused for good, kept for an operator (enneo-edge outbox).",
	"edge_outbox_oldest_age_seconds":      "Age of the oldest record not yet delivered to central.",
	"edge_outbox_stuck_records":           "Pending records failing for longer than upstream.stuck_after (still retried; enneo-edge outbox list).",
	"edge_directory_age_seconds":          "Seconds since agents and lines were last pulled from central; -1 when never (air-gapped or pull off).",
	"edge_outbox_paused":                  "1 while forwarding is paused because central refused the edge's credentials.",
	"edge_outbox_pending":                 "Records waiting to be forwarded to central (air-gapped: kept locally).",
	"edge_upstream_reachable":             "1 when the last attempt to reach central succeeded.",
	"edge_upstream_responses_total":       "Answers from central by status code (0: network error).",
}

// helpFor is the text of a family: ours from metricHelp, the Go runtime's
// and the process's (written by the metrics library) by their prefix.
func helpFor(family string) string {
	if h, ok := metricHelp[family]; ok {
		return h
	}
	switch {
	case strings.HasPrefix(family, "go_"):
		return "Go runtime: " + strings.ReplaceAll(strings.TrimPrefix(family, "go_"), "_", " ") + "."
	case strings.HasPrefix(family, "process_"):
		return "Process (from /proc): " + strings.ReplaceAll(strings.TrimPrefix(family, "process_"), "_", " ") + "."
	}
	return ""
}

// writeMetrics writes the registry, then the Go runtime and process
// metrics, with a HELP text on every family.
func (m *Metrics) writeMetrics(w *bytes.Buffer) {
	var raw bytes.Buffer
	m.set.WritePrometheus(&raw)
	metrics.WriteProcessMetrics(&raw)
	for line := range bytes.Lines(raw.Bytes()) {
		if fam, ok := bytes.CutPrefix(bytes.TrimRight(line, "\n"), []byte("# HELP ")); ok && bytes.IndexByte(fam, ' ') < 0 {
			if h := helpFor(string(fam)); h != "" {
				w.WriteString("# HELP ")
				w.Write(fam)
				w.WriteByte(' ')
				w.WriteString(h)
				w.WriteByte('\n')
				continue
			}
		}
		w.Write(line)
	}
}
