package edgetest

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
)

// Answer is one reply of a running enneo-edge's HTTP API.
type Answer struct {
	Code int
	Raw  []byte
	// Body is Raw decoded as a JSON object with numbers kept as
	// json.Number (IDs are int64 and must not pass through float64); nil
	// when Raw is not an object.
	Body map[string]any
}

// Do sends one request with token as its bearer token and reads the whole
// answer; err is a transport error only: any status is an Answer, since
// the tests judge the status themselves (a 503 across a restart is
// retried, a 4xx may be what is checked).
func Do(client *http.Client, base, token, method, path, body string) (Answer, error) {
	req, err := http.NewRequest(method, base+path, bytes.NewBufferString(body))
	if err != nil {
		return Answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return Answer{}, err
	}
	a := Answer{Code: resp.StatusCode, Raw: raw}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&a.Body)
	return a, nil
}

// FreeAddr reserves a loopback port by binding and releasing it, for a
// process that binds it moments later and must keep it across restarts
// (a config's fixed listen address, a peer address known in advance).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
