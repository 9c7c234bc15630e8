package container

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
)

var clusterRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)

// SetCluster names the cluster the runtime belongs to: the LabelCluster
// value of everything it creates from then on, and the scope of Sweep.
// Call it before Run.
func (r *Runtime) SetCluster(id string) error {
	if !clusterRE.MatchString(id) {
		return fmt.Errorf("container: cluster id %q must be 1-64 chars of [a-zA-Z0-9_.-]", id)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cluster = id
	return nil
}

func (r *Runtime) clusterID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cluster != "" {
		return r.cluster
	}
	return r.cfg.Cluster
}

// Swept counts what a Sweep removed.
type Swept struct {
	Containers, Networks int
}

// Sweep removes what dead agents of this runtime's cluster left behind:
// their containers, then their networks with the networks' firewall
// chains. An agent is dead when gone(agentID) says so; a resource younger
// than minAge is kept whatever gone says (its agent may be starting and
// not registered yet). Without a cluster (SetCluster) it sweeps nothing:
// an unscoped sweep could take another platform's instances on the same
// engine.
func (r *Runtime) Sweep(ctx context.Context, gone func(agentID string) bool, minAge time.Duration) (Swept, error) {
	var out Swept
	cluster := r.clusterID()
	if cluster == "" {
		return out, nil
	}
	old := func(created time.Time, agent string) bool {
		return agent != "" && agent != r.cfg.AgentID && time.Since(created) >= minAge && gone(agent)
	}
	scope := filters.NewArgs(filters.Arg("label", LabelCluster+"="+cluster))
	cs, err := r.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: scope})
	if err != nil {
		return out, fmt.Errorf("container: sweep: list containers: %w", err)
	}
	var errs []error
	for _, c := range cs {
		if c.Labels[LabelCluster] != cluster || !old(time.Unix(c.Created, 0), c.Labels[LabelAgent]) {
			continue
		}
		err := r.docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, fmt.Errorf("container: sweep: remove container %s: %w", c.ID[:12], err))
			continue
		}
		out.Containers++
		r.log.Info("swept a dead agent's container", "agent", c.Labels[LabelAgent], "container", c.ID[:12], "ufop", c.Labels[LabelName])
	}
	ns, err := r.docker.NetworkList(ctx, network.ListOptions{Filters: scope})
	if err != nil {
		return out, errors.Join(append(errs, fmt.Errorf("container: sweep: list networks: %w", err))...)
	}
	for _, n := range ns {
		if n.Labels[LabelCluster] != cluster || !old(n.Created, n.Labels[LabelAgent]) {
			continue
		}
		// The list leaves out the endpoints: ask for them.
		info, err := r.docker.NetworkInspect(ctx, n.ID, network.InspectOptions{})
		if err != nil {
			if !client.IsErrNotFound(err) {
				errs = append(errs, fmt.Errorf("container: sweep: inspect network %s: %w", n.Name, err))
			}
			continue
		}
		if len(info.Containers) > 0 {
			continue // a container not ours (no label) still on it: next time
		}
		bridge := info.Options[optBridge]
		if bridge == "" {
			bridge = "br-" + info.ID[:12]
		}
		for _, bin := range []string{r.cfg.IPTables, r.cfg.IP6Tables} {
			if _, err := exec.LookPath(bin); err != nil {
				continue
			}
			if err := newFirewall(bin, bridge, "", 0).remove(ctx); err != nil {
				errs = append(errs, fmt.Errorf("container: sweep: %w", err))
			}
		}
		if err := r.docker.NetworkRemove(ctx, info.ID); err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, fmt.Errorf("container: sweep: remove network %s: %w", n.Name, err))
			continue
		}
		out.Networks++
		r.log.Info("swept a dead agent's network", "agent", n.Labels[LabelAgent], "network", n.Name, "bridge", bridge)
	}
	return out, errors.Join(errs...)
}
