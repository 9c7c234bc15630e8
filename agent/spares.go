package agent

import (
	"context"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/container"
)

// preparer creates containers ahead (container.Runtime.Prepare): a Start
// of the same spec then only starts one.
type preparer interface {
	Prepare(ctx context.Context, spec container.Spec) error
}

// containerSpec is what the runtime starts for placement p.
func containerSpec(p ufop.Placement) container.Spec {
	s := p.Spec
	return container.Spec{Name: p.UFOP, Version: p.Version, Image: s.Image, Env: s.Env,
		CPU: s.CPU, Memory: s.Memory, Pids: s.Pids, HealthPath: s.HealthPath, HealthTimeout: s.HealthTimeout,
		Concurrency: s.Concurrency}
}

// prepareSpare readies a container for p's UFOP once its last instance on
// this agent has stopped (scaled to zero, or moved): the instance a job
// wakes later starts from it in a fraction of the time (issue 12).
func (u *ufops) prepareSpare(ctx context.Context, p ufop.Placement) {
	pr, ok := u.rt.(preparer)
	if !ok || ctx.Err() != nil {
		return
	}
	u.mu.Lock()
	for _, w := range u.want {
		if w.UFOP == p.UFOP {
			u.mu.Unlock()
			return // instances of it still run here
		}
	}
	u.mu.Unlock()
	if err := pr.Prepare(ctx, containerSpec(p)); err != nil && ctx.Err() == nil {
		u.logger.Warn("no spare container", "ufop", p.UFOP, "version", p.Version, "err", err)
	}
}
