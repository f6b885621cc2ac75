package bench

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// WriteVegetaTargets writes n requests of the mix as vegeta JSON targets
// (one per line), so an independent fixed-rate tool can replay the same
// bodies, each with its own channelId, against the same target.
func WriteVegetaTargets(w io.Writer, t Target, mix *Mix, seed uint64, n int64) error {
	full, err := ResolveURL(t.URL)
	if err != nil {
		return err
	}
	if mix == nil {
		mix = DefaultMix()
	}
	bs, err := newBodies(mix, seed, "vegeta-"+strconv.FormatInt(time.Now().UnixNano(), 36)+"-")
	if err != nil {
		return err
	}
	hdr := http.Header{"Content-Type": {"application/json"}}
	if t.Token != "" {
		hdr.Set("Authorization", "Bearer "+t.Token)
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	var body []byte
	for i := range n {
		body, _ = bs.appendBody(body[:0], i)
		err := enc.Encode(struct {
			Method string      `json:"method"`
			URL    string      `json:"url"`
			Body   string      `json:"body"`
			Header http.Header `json:"header"`
		}{"POST", full, base64.StdEncoding.EncodeToString(body), hdr})
		if err != nil {
			return fmt.Errorf("write targets: %w", err)
		}
	}
	return bw.Flush()
}
