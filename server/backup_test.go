package server

import (
	"context"
	"io"
	"net/http"
	"strconv"
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

// TestSlowBackupReaderDoesNotStallCalls: a backup read at 1 KB/s while the
// file grows past bbolt's memory map. A read transaction held for the
// download would make the commit that grows the map wait for the reader,
// and every call behind it would time out with 503.
func TestSlowBackupReaderDoesNotStallCalls(t *testing.T) {
	e := newEnv(t, func(_ *authOptions, l *Limits) { l.CommitTimeout = time.Second })
	big := []byte(`"` + strings.Repeat("x", 1<<20) + `"`)
	// About 25 MB: the next few records need a map larger than 32 MiB.
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
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() { // 1 KB/s until the test ends
		defer close(readerDone)
		buf := make([]byte, 1024)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
			if _, err := resp.Body.Read(buf); err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); resp.Body.Close(); <-readerDone }()

	// Grow the file past the map while the reader crawls.
	grown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for range 16 {
			if _, err := e.store.AppendOutbox(ctx, db.OutboxRecord{Kind: db.KindRoutingStatus, UserID: 1, Body: big}); err != nil {
				grown <- err
				return
			}
		}
		grown <- nil
	}()
	failed := 0
	for i := range 60 {
		a := e.call(`{"routing":"none","phone":"+491234567890","channelId":"slow-backup-` + strconv.Itoa(i) + `"}`)
		if a.code != 200 {
			failed++
			t.Logf("call %d: %d %s", i, a.code, a.raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := <-grown; err != nil {
		t.Errorf("writes that grow the file waited for the backup reader: %v", err)
	}
	if failed > 0 {
		t.Fatalf("%d of 60 calls failed while a backup was read slowly", failed)
	}
	// One backup at a time: a second one is refused while the first is open.
	if a := e.do("GET", "/edge/v1/backup", ""); a.code != 503 {
		t.Fatalf("second backup during the first: %d, want 503", a.code)
	}
}

// TestStalledBackupReaderIsCutOff: a client that never reads holds the
// one backup slot only until the download's deadline; then the copy is
// freed and the next backup runs.
func TestStalledBackupReaderIsCutOff(t *testing.T) {
	e := newEnv(t, func(_ *authOptions, l *Limits) { l.WriteTimeout = 100 * time.Millisecond })
	big := []byte(`"` + strings.Repeat("x", 1<<20) + `"`)
	for range 16 { // more than the socket buffers hold: the server's write blocks
		if _, err := e.store.AppendOutbox(context.Background(), db.OutboxRecord{Kind: db.KindRoutingStatus, UserID: 1, Body: big}); err != nil {
			t.Fatal(err)
		}
	}
	req, _ := http.NewRequest("GET", e.url+"/edge/v1/backup", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	stalled, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Body.Close() // never read
	if a := e.do("GET", "/edge/v1/backup", ""); a.code != 503 {
		t.Fatalf("second backup while the first is open: %d", a.code)
	}
	// The deadline is write_timeout + 1 s per 4 MiB: about 4 s here.
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, _ := http.NewRequest("GET", e.url+"/edge/v1/backup", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			if n != resp.ContentLength {
				t.Fatalf("backup after the stalled one: %d of %d bytes", n, resp.ContentLength)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stalled reader still holds the backup slot: %d", resp.StatusCode)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
