package db

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/routing"
)

// The digest changes with every setting that changes what a command does
// when applied, and not with the spelling of equal settings (a default
// left out or written, tags in another order).
func TestApplySettingsDigest(t *testing.T) {
	digest := func(o Options) ([32]byte, string) {
		t.Helper()
		s, err := Open(filepath.Join(t.TempDir(), "edge.db"), o)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		return s.ApplySettings()
	}
	tags := map[int64]int64{2: 5, 3: 7}
	base := Options{SiteID: 7, Routing: routing.Config{SubchannelTags: tags}}
	want, summary := digest(base)
	for _, s := range []string{"site.id=7", "ring_timeout=20s", "max_wait=10m0s", "acw=30s", "default_handle_time=3m0s", "{2:5 3:7}"} {
		if !strings.Contains(summary, s) {
			t.Errorf("summary %q lacks %q", summary, s)
		}
	}
	same := Options{SiteID: 7, Routing: routing.DefaultConfig()}
	same.Routing.SubchannelTags = map[int64]int64{3: 7, 2: 5}
	if got, _ := digest(same); got != want {
		t.Error("the defaults written out give another digest than left out")
	}
	for name, change := range map[string]func(*Options){
		"site.id":             func(o *Options) { o.SiteID = 8 },
		"ring_timeout":        func(o *Options) { o.Routing.RingTimeout = 21 * time.Second },
		"max_wait":            func(o *Options) { o.Routing.MaxWait = time.Minute },
		"acw":                 func(o *Options) { o.Routing.ACW = time.Second },
		"default_handle_time": func(o *Options) { o.Routing.DefaultHandleTime = time.Minute },
		"a tag":               func(o *Options) { o.Routing.SubchannelTags = map[int64]int64{2: 5, 3: 8} },
		"a line":              func(o *Options) { o.Routing.SubchannelTags = map[int64]int64{2: 5, 4: 7} },
		"no tags":             func(o *Options) { o.Routing.SubchannelTags = nil },
	} {
		o := base
		change(&o)
		if got, _ := digest(o); got == want {
			t.Errorf("another %s gives the same digest", name)
		}
	}
}
