package app

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/internal/edgetest"
)

// With [cluster] the app starts a member: its writes go through the
// replicated log (the file's applied index moves), the leader-only loops
// run once it leads, /edge/v1/cluster reports it, and Close leaves the
// database and raft's files closed.
func TestClusterMemberServesThroughTheLog(t *testing.T) {
	cfg := testConfig(t)
	peer := edgetest.FreeAddr(t)
	cfg.Cluster.Node, cfg.Cluster.Listen = "edge-a", peer
	cfg.Cluster.Peers = []string{"edge-a=" + peer}
	cfg.Cluster.Secret = "app-test-secret-0123456789abcdef0123"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	out := &lines{}
	a, err := New(cfg, Options{Log: quietLog(), Stdout: out})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(ctx) }()
	var url string
	edgetest.WaitFor(t, "the listening line", 10*time.Second, func() bool {
		if m := regexp.MustCompile(`listening on (http://\S+)`).FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		}
		return url != ""
	})
	get := func(path string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", url+path, nil)
		req.Header.Set("Authorization", "Bearer app-test-token-0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	edgetest.WaitFor(t, "the member to lead", 10*time.Second, func() bool {
		code, m := get("/edge/v1/cluster")
		return code == 200 && m["role"] == "leader"
	})
	req, _ := http.NewRequest("POST", url+"/api/mind/telephony/callReceived", strings.NewReader(`{"phone":"030 1234567","channelId":"app-1"}`))
	req.Header.Set("Authorization", "Bearer app-test-token-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("callReceived on the member: %d", resp.StatusCode)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("readyz of the leader: %d", code)
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(clusterDir(cfg)); err != nil {
		t.Fatalf("raft's files: %v", err)
	}
	store, err := db.Open(cfg.Storage.Path, db.Options{SiteID: 1, OpenTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("database still held after Close: %v", err)
	}
	defer store.Close()
	if n, err := store.AppliedIndex(); err != nil || n == 0 {
		t.Fatalf("the call did not go through the log: applied index %d, %v", n, err)
	}
	if _, err := store.TicketByChannel("app-1"); err != nil {
		t.Fatalf("the call is not in the file: %v", err)
	}
}
