package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/enneo-edge/enneo-edge/cluster"
	"github.com/enneo-edge/enneo-edge/config"
	"github.com/enneo-edge/enneo-edge/health"
	"github.com/enneo-edge/enneo-edge/routing"
)

// clusterDir holds raft's log, stable store and snapshots, next to the
// database file.
func clusterDir(cfg config.Config) string { return cfg.Storage.Path + ".raft" }

// startCluster makes the store a member of the cluster: raft starts on
// the store's file (which the commit loop already serves) and every write
// method of the store goes through the log from now on.
func (a *App) startCluster() error {
	cl := a.cfg.Cluster
	serverTLS, clientTLS, err := clusterTLS(cl)
	if err != nil {
		return err
	}
	var peers []cluster.Peer
	for _, p := range cl.ParsedPeers() {
		peers = append(peers, cluster.Peer{ID: p.Name, Addr: p.Addr})
	}
	a.clusterFailed = make(chan error, 1)
	// Members must agree on what applying a command depends on (site.id,
	// routing.*): the handshake refuses a peer whose settings differ.
	var settings cluster.Settings
	settings.Digest, settings.Summary = a.store.ApplySettings()
	n, err := cluster.New(cluster.Options{
		Node: cl.Node, Listen: cl.Listen, Peers: peers, Secret: cl.Secret,
		ServerTLS: serverTLS, ClientTLS: clientTLS,
		Dir: clusterDir(a.cfg), Store: a.store, Log: a.log,
		Settings: settings,
		OnFail: func(err error) {
			select {
			case a.clusterFailed <- err:
			default:
			}
		},
	})
	if err != nil {
		return err
	}
	a.node = n
	a.store.SetReplicator(n)
	a.push(func() error {
		if err := n.Close(); err != nil {
			return fmt.Errorf("leave the cluster: %w", err)
		}
		return nil
	})
	a.log.Info("cluster member", "node", cl.Node, "listen", cl.Listen, "members", len(peers), "raft", clusterDir(a.cfg))
	return nil
}

// clusterTLS builds mutual TLS between the members from cluster.tls_*:
// a peer is whoever holds a certificate the cluster CA signed (members are
// dialled by address, so no host name is checked).
func clusterTLS(cl config.Cluster) (srv, cli *tls.Config, err error) {
	if cl.TLSCert == "" {
		return nil, nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cl.TLSCert, cl.TLSKey)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster.tls_cert/tls_key: %w", err)
	}
	pem, err := os.ReadFile(cl.TLSCA)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster.tls_ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, errors.New("cluster.tls_ca: no PEM certificate in it")
	}
	srv = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13}
	cli = &tls.Config{
		Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13,
		InsecureSkipVerify: true, //nolint:gosec // the chain is verified below, without a host name
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("cluster peer sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			return err
		},
	}
	return srv, cli, nil
}

// leaderWork is what only the leader runs: the routing timers, then the
// forwarder, directory pull and pruner, built anew for each term.
func (a *App) leaderWork() (stop func()) {
	// Appended only while this member leads, never forwarded to a newer
	// leader (cluster.Node.LeaderOnly).
	store := a.store.WithReplicator(a.node.LeaderOnly())
	timers := routing.NewLoop(store, a.cfg.Routing.TimerInterval.Duration, nil, a.log)
	stopTimers := runLoop(timers.Run, timers.Close)
	s, err := newSyncer(a.cfg, store, a.metrics, a.log)
	if err != nil {
		a.log.Error("cluster: forwarder", "err", err) // checked at start: cannot happen
		return stopTimers
	}
	a.current.Store(s)
	stopSync := s.start(a.srv)
	return func() { stopSync(); stopTimers() }
}

// upstreamStatus is the status of the current term's forwarder.
func (a *App) upstreamStatus() health.Upstream { return a.current.Load().status() }

// runLeading starts the leader-only work under the member's leadership.
func (a *App) runLeading() func() {
	l := cluster.NewLeading(a.node, a.leaderWork)
	ctx, cancel := context.WithCancel(context.Background())
	go l.Run(ctx)
	return func() { cancel(); l.Close() }
}
