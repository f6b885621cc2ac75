package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/db"
)

// TestBackupOutlastsTheWriteTimeout: server.write_timeout bounds one
// response, and a copy of a real database takes longer than 5 s to stream
// to a client writing it to disk; the backup must not be cut off by it.
func TestBackupOutlastsTheWriteTimeout(t *testing.T) {
	e := newEnv(t, func(_ *authOptions, l *Limits) { l.WriteTimeout = 200 * time.Millisecond })
	big := []byte(`"` + strings.Repeat("x", 1<<20) + `"`)
	for range 24 {
		if _, err := e.store.AppendOutbox(context.Background(), db.OutboxRecord{Kind: db.KindRoutingStatus, UserID: 1, Body: big}); err != nil {
			t.Fatal(err)
		}
	}
	req, _ := http.NewRequest("GET", e.url+"/edge/v1/backup", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// A slow disk on the client's side: about 1 s for the copy.
	var n int64
	buf := make([]byte, 512<<10)
	for {
		m, err := resp.Body.Read(buf)
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("backup cut off after %d of %d bytes: %v", n, resp.ContentLength, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp.StatusCode != 200 || n != resp.ContentLength {
		t.Fatalf("backup: %d, %d bytes of %d", resp.StatusCode, n, resp.ContentLength)
	}
}
