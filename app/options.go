package app

import (
	"github.com/enneo-edge/enneo-edge/config"
	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/routing"
	"github.com/enneo-edge/enneo-edge/server"
)

// StoreOptions are the database options serve (and bench's private
// appliance) derive from the config.
func StoreOptions(cfg config.Config, metrics *server.Metrics) db.Options {
	return db.Options{SiteID: cfg.Site.ID,
		MaxSize: cfg.Storage.MaxSizeBytes, OnCommit: metrics.ObserveCommit,
		OnLogSync: metrics.ObserveLogSync, OnCheckpoint: metrics.ObserveCheckpoint,
		DisableWAL: !cfg.Storage.WAL.Enabled(),
		Routing: routing.Config{
			RingTimeout:       cfg.Routing.RingTimeout.Duration,
			MaxWait:           cfg.Routing.MaxWait.Duration,
			ACW:               cfg.Routing.ACW.Duration,
			DefaultHandleTime: cfg.Routing.DefaultHandleTime.Duration,
			SubchannelTags:    cfg.Routing.Tags(),
		}}
}

// ServerLimits are the HTTP limits of the config.
func ServerLimits(cfg config.Config) server.Limits {
	return server.Limits{
		ReadTimeout:     cfg.Server.ReadTimeout.Duration,
		WriteTimeout:    cfg.Server.WriteTimeout.Duration,
		IdleTimeout:     cfg.Server.IdleTimeout.Duration,
		MaxBodyBytes:    cfg.Server.MaxBodyBytes,
		ReadBufferBytes: cfg.Server.ReadBufferBytes,
		MaxConnections:  cfg.Server.MaxConnections,

		MaxPendingCommits:       cfg.Server.MaxPendingCommits,
		MaxConnsPerIP:           cfg.Server.MaxConnsPerIP,
		MaxCallBodyBytes:        cfg.Server.MaxCallBodyBytes,
		CallsPerSecondPerClient: cfg.Server.MaxCallsPerSecondPerClient,
	}
}
