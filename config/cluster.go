package config

import (
	"fmt"
	"strings"
)

// Cluster makes this appliance one member of a cluster of three (or five)
// on one replicated log. Empty (the default), the appliance runs alone,
// exactly as without the section.
type Cluster struct {
	// Node is this member's name (its raft server ID), one of Peers.
	Node string `toml:"node"`
	// Listen is the host:port the peer transport listens on.
	Listen string `toml:"listen"`
	// Peers are all members, this one included, as "name=host:port": the
	// address this member dials to reach each (each member may be given
	// its own list, through proxies for instance). A cluster starting
	// with no raft state bootstraps itself from this list, so every member
	// must start with the same names.
	Peers []string `toml:"peers"`
	// Secret is the shared secret every peer connection proves (an HMAC
	// challenge both ways): at least 32 characters, the same on every
	// member. Nobody without it joins or forwards.
	Secret string `toml:"secret"`
	// TLSCert, TLSKey and TLSCA, all three set, wrap peer connections in
	// mutual TLS: each member presents TLSCert and accepts only peers with
	// a certificate TLSCA signed.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	TLSCA   string `toml:"tls_ca"`
}

// Enabled reports whether a [cluster] is configured.
func (c Cluster) Enabled() bool {
	return c.Node != "" || c.Listen != "" || len(c.Peers) > 0 || c.Secret != ""
}

// ClusterPeer is one parsed entry of cluster.peers.
type ClusterPeer struct{ Name, Addr string }

// ParsedPeers splits cluster.peers; Validate has checked them.
func (c Cluster) ParsedPeers() []ClusterPeer {
	var out []ClusterPeer
	for _, p := range c.Peers {
		name, addr, _ := strings.Cut(p, "=")
		out = append(out, ClusterPeer{Name: strings.TrimSpace(name), Addr: strings.TrimSpace(addr)})
	}
	return out
}

const minClusterSecret = 32

func (c *Config) validateCluster(add func(key, format string, args ...any)) {
	cl := c.Cluster
	if !cl.Enabled() {
		return
	}
	if cl.Node == "" {
		add("cluster.node", "must name this member (one of cluster.peers)")
	}
	if err := checkListen(cl.Listen); err != nil {
		add("cluster.listen", "%v", err)
	}
	if len(cl.Peers) == 0 {
		add("cluster.peers", "must list every member, this one included, as \"name=host:port\"")
	}
	names := map[string]bool{}
	for i, p := range cl.ParsedPeers() {
		key := fmt.Sprintf("cluster.peers[%d]", i)
		if p.Name == "" || strings.ContainsAny(p.Name, " \t/") {
			add(key, "must be \"name=host:port\" with a name without spaces or slashes, got %q", cl.Peers[i])
			continue
		}
		if err := checkListen(p.Addr); err != nil {
			add(key, "%v", err)
		}
		if names[p.Name] {
			add(key, "names %q twice", p.Name)
		}
		names[p.Name] = true
	}
	if cl.Node != "" && len(names) > 0 && !names[cl.Node] {
		add("cluster.node", "%q is not among cluster.peers", cl.Node)
	}
	if len(names)%2 == 0 && len(names) > 0 {
		add("cluster.peers", "must list an odd number of members (3 or 5): %d tolerate no more failures than %d", len(names), len(names)-1)
	}
	if len(cl.Secret) < minClusterSecret {
		add("cluster.secret", "must be at least %d characters (the same on every member)", minClusterSecret)
	}
	set := 0
	for _, f := range []struct{ key, path string }{{"cluster.tls_cert", cl.TLSCert}, {"cluster.tls_key", cl.TLSKey}, {"cluster.tls_ca", cl.TLSCA}} {
		if f.path == "" {
			continue
		}
		set++
		if err := checkReadableFile(f.path); err != nil {
			add(f.key, "%v", err)
		}
	}
	if set != 0 && set != 3 {
		add("cluster.tls_cert", "cluster.tls_cert, cluster.tls_key and cluster.tls_ca go together (mutual TLS)")
	}
	if len(c.Auth.Tokens) == 0 && c.Auth.JWTSecret == "" && c.Auth.JWTPublicKeyFile == "" {
		add("auth.tokens", "a cluster needs its tokens configured (auth.tokens or a JWT key): tokens generated at first start would differ on each member")
	}
}
