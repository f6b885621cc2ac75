package db

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ApplySettings returns what, besides a command and the state it runs
// on, decides what the command does when applied: the site ID (in every
// ticket and queue ID) and the routing settings with their defaults
// filled in (ring timeout, max wait, after-call work and handle time
// decide what a replicated ExpireDue or wait estimate does; the line tags
// which agents a call may be offered to). A cluster's members must agree
// on them, or the same log gives each member a different state; the
// cluster handshake compares the digest (cluster.Settings).
//
// The digest is SHA-256 of a canonical text (one key=value line each, in
// a fixed order, durations in nanoseconds, tags sorted by line), so equal
// settings give equal digests whatever the config's spelling ("20s" or
// "20000ms", a default left out or written). The summary is the same
// settings for a person reading a refusal.
func (s *Store) ApplySettings() (digest [sha256.Size]byte, summary string) {
	r := s.flow.Routing()
	lines := make([]int64, 0, len(r.SubchannelTags))
	for line := range r.SubchannelTags {
		lines = append(lines, line)
	}
	slices.Sort(lines)
	var canon, tags strings.Builder
	canon.WriteString("enneo-edge apply settings 1\n")
	fmt.Fprintf(&canon, "site.id=%d\n", s.site)
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"ring_timeout", r.RingTimeout}, {"max_wait", r.MaxWait}, {"acw", r.ACW}, {"default_handle_time", r.DefaultHandleTime}} {
		fmt.Fprintf(&canon, "routing.%s=%d\n", d.key, int64(d.v))
	}
	for i, line := range lines {
		fmt.Fprintf(&canon, "routing.subchannel_tag.%d=%d\n", line, r.SubchannelTags[line])
		if i > 0 {
			tags.WriteByte(' ')
		}
		tags.WriteString(strconv.FormatInt(line, 10) + ":" + strconv.FormatInt(r.SubchannelTags[line], 10))
	}
	summary = fmt.Sprintf("site.id=%d routing: ring_timeout=%s max_wait=%s acw=%s default_handle_time=%s subchannel tags {%s}",
		s.site, r.RingTimeout, r.MaxWait, r.ACW, r.DefaultHandleTime, tags.String())
	return sha256.Sum256([]byte(canon.String())), summary
}
