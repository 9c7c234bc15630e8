package container

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
)

// A spare is a container created ahead for a spec and never started: a
// Start of an equal spec only starts it, skipping the image check and the
// create (issue 12: an instance from zero in about a second). One per UFOP
// name at most; a spec that changed (a new version) replaces it.
type spare struct {
	key         string // specKey of the spec it was created for
	id          string // its instance id (label), kept when started
	containerID string
	name        string // the container's name
}

// specKey identifies what a container is created from, defaults applied.
func specKey(s Spec) string {
	b, _ := json.Marshal(s) // plain values only
	return string(b)
}

// Prepare creates a spare container for spec unless one exists, so that
// the next Start of spec starts faster. It replaces a spare of the same
// UFOP made for another spec. Best effort for the caller: an error only
// means the next Start creates its container itself.
func (r *Runtime) Prepare(ctx context.Context, spec Spec) error {
	spec = spec.withDefaults(r.cfg)
	if err := spec.Validate(); err != nil {
		return err
	}
	if !isClosed(r.ready) || isClosed(r.done) {
		return fmt.Errorf("container: prepare %s: the runtime is not running", spec.Name)
	}
	key := specKey(spec)
	r.mu.Lock()
	old := r.spares[spec.Name]
	if r.closed || (old != nil && old.key == key) {
		r.mu.Unlock()
		return nil
	}
	delete(r.spares, spec.Name)
	r.mu.Unlock()
	if old != nil {
		r.removeSpare(ctx, old)
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.StartTimeout)
	defer cancel()
	if _, err := r.docker.ImageInspect(ctx, spec.Image); err != nil {
		return fmt.Errorf("container: prepare %s: inspect image %s: %w", spec.Name, spec.Image, err)
	}
	id := newID()
	name := r.cfg.NetworkName + "-" + spec.Name + "-" + id
	cfg, host, netcfg := r.containerConfig(spec, id)
	created, err := r.docker.ContainerCreate(ctx, cfg, host, netcfg, nil, name)
	if err != nil {
		return fmt.Errorf("container: prepare %s: create %s: %w", spec.Name, name, err)
	}
	sp := &spare{key: key, id: id, containerID: created.ID, name: name}
	r.mu.Lock()
	if r.closed || r.spares[spec.Name] != nil {
		// Closed, or a concurrent Prepare won: this one is not needed.
		r.mu.Unlock()
		r.removeSpare(ctx, sp)
		return nil
	}
	r.spares[spec.Name] = sp
	r.mu.Unlock()
	r.log.Info("spare container created", "ufop", spec.Name, "version", spec.Version, "container", created.ID[:12])
	return nil
}

// takeSpare returns the spare for spec, if there is one, and forgets it; a
// spare of the same UFOP for another spec is removed.
func (r *Runtime) takeSpare(ctx context.Context, spec Spec) *spare {
	r.mu.Lock()
	sp := r.spares[spec.Name]
	delete(r.spares, spec.Name)
	r.mu.Unlock()
	if sp != nil && sp.key != specKey(spec) {
		r.removeSpare(ctx, sp)
		return nil
	}
	return sp
}

func (r *Runtime) removeSpare(ctx context.Context, sp *spare) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := r.docker.ContainerRemove(ctx, sp.containerID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !client.IsErrNotFound(err) {
		r.log.Warn("remove spare container", "container", sp.containerID, "err", err)
	}
}

// removeSpares removes every spare (the runtime closes).
func (r *Runtime) removeSpares(ctx context.Context) {
	r.mu.Lock()
	all := r.spares
	r.spares = map[string]*spare{}
	r.mu.Unlock()
	for _, sp := range all {
		r.removeSpare(ctx, sp)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
