package server

import (
	"context"
	stdjson "encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/enneo-edge/enneo-edge/auth"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/phone"
)

// FuzzCallReceived drives the real handler, store included: whatever the
// body, the answer is a 200 or a 4xx with a JSON body, never a 5xx or a
// panic.
func FuzzCallReceived(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"routing":"native","phone":"0171 1234567","channelId":"c1"}`,
		`{"direction":"out","to":"+4930","agentId":1,"aiAgentId":2}`,
		`{"routing":"external","userId":42,"transcript":[{"speaker":"bot","message":"m"}]}`,
		`{"contractId":123,"customerId":"x"}`, `{"phone":"++++"}`, `{"to":"0"}`, `[]`, `nul`,
	} {
		f.Add([]byte(s))
	}
	store, err := db.Open(filepath.Join(f.TempDir(), "edge.db"), db.Options{SiteID: 1})
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go store.Run(ctx)
	defer func() { cancel(); _ = store.Close() }()
	a, err := auth.New(auth.Options{Tokens: []string{testToken}})
	if err != nil {
		f.Fatal(err)
	}
	pn, err := phone.NewNormalizer("DE")
	if err != nil {
		f.Fatal(err)
	}
	srv := New(store, a, pn, slog.New(slog.NewTextHandler(io.Discard, nil)), Limits{CommitTimeout: 5 * time.Second})
	handler := srv.http.Handler
	f.Fuzz(func(t *testing.T, body []byte) {
		var rc fasthttp.RequestCtx
		rc.Request.Header.SetMethod("POST")
		rc.Request.SetRequestURI("/api/mind/telephony/callReceived")
		rc.Request.Header.Set("Authorization", "Bearer "+testToken)
		rc.Request.SetBody(body)
		handler(&rc)
		code := rc.Response.StatusCode()
		if code != 200 && (code < 400 || code > 499) {
			t.Fatalf("answer %d for %q: %s", code, body, rc.Response.Body())
		}
		if !stdjson.Valid(rc.Response.Body()) {
			t.Fatalf("answer is not JSON: %q", rc.Response.Body())
		}
	})
}
