package config

import (
	"strings"
	"testing"
)

// An empty [cluster] is a single appliance; a configured one is checked
// key by key, each problem naming its key.
func TestValidateCluster(t *testing.T) {
	t.Parallel()
	good := func(c *Config) {
		c.Auth.Tokens = []Token{{Token: "k8Jd2LqP0zXv7Rn4Wm1B", Role: "pbx"}}
		c.Cluster = Cluster{Node: "edge-a", Listen: "127.0.0.1:8006", Secret: strings.Repeat("s", 32),
			Peers: []string{"edge-a=127.0.0.1:8006", "edge-b=127.0.0.1:8016", "edge-c=127.0.0.1:8026"}}
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // "" = valid; else the text the error contains
	}{
		{"alone", func(*Config) {}, ""},
		{"three members", good, ""},
		{"node not among peers", func(c *Config) { good(c); c.Cluster.Node = "edge-x" }, `cluster.node: "edge-x" is not among cluster.peers`},
		{"no node", func(c *Config) { good(c); c.Cluster.Node = "" }, "cluster.node: must name this member"},
		{"bad listen", func(c *Config) { good(c); c.Cluster.Listen = "nowhere" }, "cluster.listen"},
		{"peer without address", func(c *Config) { good(c); c.Cluster.Peers[1] = "edge-b" }, "cluster.peers[1]"},
		{"peer twice", func(c *Config) { good(c); c.Cluster.Peers[2] = "edge-b=127.0.0.1:8036" }, `cluster.peers[2]: names "edge-b" twice`},
		{"even members", func(c *Config) { good(c); c.Cluster.Peers = c.Cluster.Peers[:2] }, "cluster.peers: must list an odd number"},
		{"short secret", func(c *Config) { good(c); c.Cluster.Secret = "short" }, "cluster.secret"},
		{"tls half", func(c *Config) { good(c); c.Cluster.TLSCert = "/etc/hostname" }, "cluster.tls_cert, cluster.tls_key and cluster.tls_ca go together"},
		{"tls missing file", func(c *Config) {
			good(c)
			c.Cluster.TLSCert, c.Cluster.TLSKey, c.Cluster.TLSCA = "/nonexistent/c", "/etc/hostname", "/etc/hostname"
		}, "cluster.tls_cert: stat /nonexistent/c"},
		{"generated tokens", func(c *Config) { good(c); c.Auth.Tokens = nil }, "auth.tokens: a cluster needs its tokens configured"},
	}
	for _, tc := range tests {
		c := Default()
		tc.mutate(&c)
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
