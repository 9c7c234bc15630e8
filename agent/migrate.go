package agent

import (
	"context"
	"sync"

	"github.com/ufop/ufop/migrate"
)

// Bulk migration: an agent given a store and a queue runs a
// migrate.Runner, which copies the keys of running migrations (and, on the
// agent elected among them, lists their sources).

func (a *Agent) newMigrateRunner(deps Deps) error {
	if deps.Store == nil || deps.Queue == nil {
		return nil
	}
	cfg := a.cfg.Migrate
	cfg.ID = a.cfg.ID
	r, err := migrate.New(cfg, migrate.Deps{Etcd: a.etcd, NATS: deps.Queue.Conn(), Store: deps.Store, Egress: deps.Egress,
		Logger: a.logger})
	if err != nil {
		return err
	}
	a.migrate = r
	return nil
}

// runMigrations runs the migration runner, if any, until ctx ends.
func (a *Agent) runMigrations(ctx context.Context, wg *sync.WaitGroup) {
	if a.migrate == nil {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.migrate.Run(ctx); err != nil {
			a.logger.Error("migrations stopped", "err", err)
		}
	}()
}
