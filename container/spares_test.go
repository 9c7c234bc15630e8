package container

import (
	"context"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// TestPrepareThenStart: a prepared spare is a created container that the
// next Start of the same spec starts (no second container); a spare for an
// older spec of the UFOP is replaced, and one Start of a spec without a
// matching spare removes the stale one and creates its own.
func TestPrepareThenStart(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	created := func() []container.Summary {
		cs, err := e.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
			filters.Arg("label", LabelAgent+"="+e.cfg.AgentID), filters.Arg("status", "created"))})
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	v1 := hostileSpec(nil)
	if err := e.rt.Prepare(ctx, v1); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.Prepare(ctx, v1); err != nil { // one spare per spec, not two
		t.Fatal(err)
	}
	spares := created()
	if len(spares) != 1 {
		t.Fatalf("%d created containers after Prepare, want 1", len(spares))
	}
	inst := e.startInstance(v1)
	if inst.ContainerID != spares[0].ID {
		t.Errorf("Start made container %.12s, want the spare %.12s", inst.ContainerID, spares[0].ID)
	}
	if n := len(created()); n != 0 {
		t.Errorf("%d created containers after Start, want 0 (the spare was used)", n)
	}
	mustCall(t, inst, "/health")

	// A new version replaces the spare of the old one.
	v2 := hostileSpec(func(s *Spec) { s.Version = 2 })
	if err := e.rt.Prepare(ctx, v1); err != nil {
		t.Fatal(err)
	}
	old := created()
	if err := e.rt.Prepare(ctx, v2); err != nil {
		t.Fatal(err)
	}
	now := created()
	if len(old) != 1 || len(now) != 1 || now[0].ID == old[0].ID {
		t.Fatalf("spares before %d, after a new version's Prepare %d (same: %v), want one replaced by another", len(old), len(now), len(now) == 1 && len(old) == 1 && now[0].ID == old[0].ID)
	}
	// A Start of the old version does not take the new version's spare.
	other := e.startInstance(v1)
	if other.ContainerID == now[0].ID {
		t.Error("Start of v1 took v2's spare")
	}
	if n := len(created()); n != 0 {
		t.Errorf("%d created containers after a Start with a stale spare, want 0 (removed)", n)
	}
}
