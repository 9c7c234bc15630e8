package main

import (
	"context"
	"flag"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/ufop/ufop/agent"
	"github.com/ufop/ufop/egress"
	"github.com/ufop/ufop/storage"
)

// migrateFlags are the agent's flags for bulk migration.
type migrateFlags struct {
	storage    string
	fetchAllow []netip.Prefix
}

func (m *migrateFlags) register(fs *flag.FlagSet, cfg *agent.Config) {
	fs.StringVar(&m.storage, "storage", "", "object storage the agent copies migrations into, the gateways' (file://DIR or s3://BUCKET[/PREFIX]?endpoint=URL with AWS_* credentials); empty: the agent runs no migrations")
	fetchAllowFlag(fs, &m.fetchAllow)
	fs.IntVar(&cfg.Migrate.PageSize, "migrate-page-size", cfg.Migrate.PageSize, "source keys listed per checkpoint")
	fs.DurationVar(&cfg.Migrate.AckWait, "migrate-ack-wait", cfg.Migrate.AckWait, "how long the keys of a dead migration worker wait before another takes them")
}

// deps opens the agent's store for migrations, if one was given.
func (m *migrateFlags) deps(d *agent.Deps, logger *slog.Logger) (func(), error) {
	d.Egress = egress.New(m.fetchAllow)
	if m.storage == "" {
		return func() {}, nil
	}
	loc := m.storage
	if !strings.Contains(loc, "://") {
		loc = "file://" + loc
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := storage.Open(ctx, loc, storage.OpenOptions{Logger: logger})
	if err != nil {
		return nil, err
	}
	d.Store = st
	return func() { st.Close() }, nil
}
