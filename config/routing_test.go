package config

import (
	"maps"
	"strings"
	"testing"
	"time"
)

func TestRoutingKeys(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "edge.toml", `
[routing]
ring_timeout = "15s"
acw = "1m"
subchannel_tags = { "5" = 46, "12" = 47 }
`)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Routing
	if r.RingTimeout.Duration != 15*time.Second || r.ACW.Duration != time.Minute ||
		r.MaxWait.Duration != 10*time.Minute || r.TimerInterval.Duration != time.Second {
		t.Errorf("routing %+v", r)
	}
	if got := r.Tags(); !maps.Equal(got, map[int64]int64{5: 46, 12: 47}) {
		t.Errorf("tags %v", got)
	}
}

func TestRoutingBadValues(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, content, want string }{
		{"ring zero", "[routing]\nring_timeout = \"0s\"\n", "routing.ring_timeout: must be between 1s and 10m0s, got 0s"},
		{"max wait huge", "[routing]\nmax_wait = \"48h\"\n", "routing.max_wait: must be between 1s and 24h0m0s"},
		{"acw negative", "[routing]\nacw = \"-1s\"\n", "routing.acw"},
		{"handle time zero", "[routing]\ndefault_handle_time = \"0s\"\n", "routing.default_handle_time"},
		{"timer too fast", "[routing]\ntimer_interval = \"1ms\"\n", "routing.timer_interval"},
		{"tag key not a number", "[routing]\nsubchannel_tags = { \"line5\" = 46 }\n", `routing.subchannel_tags: key "line5" must be a subchannelId`},
		{"tag zero", "[routing]\nsubchannel_tags = { \"5\" = 0 }\n", "routing.subchannel_tags.5: must be a positive tag ID, got 0"},
		{"tag string", "[routing]\nsubchannel_tags = { \"5\" = \"sales\" }\n", "subchannel_tags"},
		{"unknown routing key", "[routing]\nring = \"5s\"\n", `unknown key "routing.ring"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(writeFile(t, "bad.toml", tt.content))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
