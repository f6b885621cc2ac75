package server

import (
	stdjson "encoding/json"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
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
	handler := newHandler(f, 1, 5*time.Second)
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
