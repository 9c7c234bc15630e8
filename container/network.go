package container

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/ufop/ufop"
)

const (
	optICC    = "com.docker.network.bridge.enable_icc"
	optBridge = "com.docker.network.bridge.name"
)

// setup creates or adopts the network and installs the firewall.
func (r *Runtime) setup(ctx context.Context) error {
	ns, err := r.ensureNetwork(ctx)
	if err != nil {
		return err
	}
	fws := []*firewall{newFirewall(r.cfg.IPTables, ns.bridge, ns.gateway, r.cfg.AgentPort)}
	if _, err := exec.LookPath(r.cfg.IP6Tables); err == nil {
		fws = append(fws, newFirewall(r.cfg.IP6Tables, ns.bridge, "", r.cfg.AgentPort))
	} else {
		r.log.Warn("no ip6tables: IPv6 input from the bridge is not filtered (instances run with IPv6 off)", "err", err)
	}
	for _, fw := range fws {
		if err := fw.install(ctx); err != nil {
			return fmt.Errorf("container: setup: %w", err)
		}
	}
	r.mu.Lock()
	r.net, r.fws = ns, fws
	r.mu.Unlock()
	return nil
}

// bridgeName is the host interface of the network: at most 15 chars,
// derived from the network name so a restarted agent finds the same one.
func bridgeName(networkName string) string {
	sum := sha256.Sum256([]byte(networkName))
	return "ufop" + hex.EncodeToString(sum[:])[:10]
}

// ensureNetwork creates the network, or checks that an existing one of the
// same name is as isolated as one we would create.
func (r *Runtime) ensureNetwork(ctx context.Context) (netState, error) {
	name := r.cfg.NetworkName
	n, err := r.docker.NetworkInspect(ctx, name, network.InspectOptions{})
	if client.IsErrNotFound(err) {
		labels := map[string]string{LabelAgent: r.cfg.AgentID, LabelNetwork: name}
		if c := r.clusterID(); c != "" {
			labels[LabelCluster] = c
		}
		for k, v := range r.cfg.Labels {
			labels[k] = v
		}
		opts := network.CreateOptions{
			Driver:   "bridge",
			Internal: true,
			Options:  map[string]string{optICC: "false", optBridge: bridgeName(name)},
			Labels:   labels,
		}
		if r.cfg.Subnet != "" {
			opts.IPAM = &network.IPAM{Config: []network.IPAMConfig{{Subnet: r.cfg.Subnet}}}
		}
		if _, cerr := r.docker.NetworkCreate(ctx, name, opts); cerr != nil {
			// A concurrent creator wins the same name: use theirs if it
			// passes the checks below.
			if _, ierr := r.docker.NetworkInspect(ctx, name, network.InspectOptions{}); ierr != nil {
				return netState{}, fmt.Errorf("container: create network %s: %w", name, cerr)
			}
		}
		n, err = r.docker.NetworkInspect(ctx, name, network.InspectOptions{})
	}
	if err != nil {
		return netState{}, fmt.Errorf("container: inspect network %s: %w", name, err)
	}
	if n.Driver != "bridge" || !n.Internal || n.Options[optICC] != "false" {
		return netState{}, ufop.Errorf(ufop.KindConflict, "network %s exists but is not an internal bridge without inter-container traffic; remove it or choose another network name", name)
	}
	ns := netState{id: n.ID, bridge: n.Options[optBridge]}
	if ns.bridge == "" {
		ns.bridge = "br-" + n.ID[:12] // the engine's default name
	}
	for _, c := range n.IPAM.Config {
		p, err := netip.ParsePrefix(c.Subnet)
		if err != nil || !p.Addr().Is4() {
			continue
		}
		ns.subnet = c.Subnet
		gw := strings.SplitN(c.Gateway, "/", 2)[0]
		if a, err := netip.ParseAddr(gw); err == nil && a.Is4() {
			ns.gateway = a.String()
		} else {
			// The engine takes the subnet's first address by default.
			ns.gateway = p.Masked().Addr().Next().String()
		}
		break
	}
	if ns.gateway == "" {
		return netState{}, fmt.Errorf("container: network %s has no IPv4 subnet", name)
	}
	return ns, nil
}

// watchEvents reports die and oom events of the agent's containers until
// ctx ends, reconnecting (without losing events) when the stream breaks.
func (r *Runtime) watchEvents(ctx context.Context) {
	f := filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("label", LabelAgent+"="+r.cfg.AgentID),
		filters.Arg("label", LabelNetwork+"="+r.cfg.NetworkName),
		filters.Arg("event", string(events.ActionDie)),
		filters.Arg("event", string(events.ActionOOM)),
	)
	// Resuming from the last event seen (or from now) after a broken
	// stream loses nothing in between.
	since := fmt.Sprintf("%d.%09d", time.Now().Unix(), time.Now().Nanosecond())
	for ctx.Err() == nil {
		msgs, errs := r.docker.Events(ctx, events.ListOptions{Filters: f, Since: since})
	stream:
		for {
			select {
			case m := <-msgs:
				next := m.TimeNano + 1 // resume after this event, not at it
				since = fmt.Sprintf("%d.%09d", next/1e9, next%1e9)
				r.handleEvent(m)
			case err := <-errs:
				if ctx.Err() != nil {
					return
				}
				r.log.Warn("docker event stream broke, reconnecting", "err", err)
				break stream
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (r *Runtime) handleEvent(m events.Message) {
	id := m.Actor.Attributes[LabelInstance]
	if id == "" {
		return
	}
	ev := Event{InstanceID: id, ContainerID: m.Actor.ID, Name: m.Actor.Attributes[LabelName], Time: time.Unix(0, m.TimeNano)}
	ev.Version, _ = strconv.Atoi(m.Actor.Attributes[LabelVersion])
	switch m.Action {
	case events.ActionDie:
		ev.Kind = Died
		ev.ExitCode, _ = strconv.Atoi(m.Actor.Attributes["exitCode"])
	case events.ActionOOM:
		ev.Kind = OOM
	default:
		return
	}
	r.mu.Lock()
	t := r.instances[id]
	quiet := t != nil && (t.starting || t.stopping)
	if t != nil && ev.Kind == Died {
		t.dead = true
	}
	r.mu.Unlock()
	if quiet {
		return // Start or Stop caused it and reports it themselves
	}
	r.log.Warn("instance event", "instance", id, "ufop", ev.Name, "kind", string(ev.Kind), "exitCode", ev.ExitCode)
	r.emit(ev)
}

// watchHealth checks every live instance each HealthInterval.
func (r *Runtime) watchHealth(ctx context.Context) {
	tick := time.NewTicker(r.cfg.HealthInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		r.mu.Lock()
		var due []*tracked
		for _, t := range r.instances {
			if !t.starting && !t.stopping && !t.dead && t.inst.Addr != "" {
				due = append(due, t)
			}
		}
		r.mu.Unlock()
		var wg sync.WaitGroup
		for _, t := range due {
			wg.Go(func() { r.checkHealth(ctx, t) })
		}
		wg.Wait()
	}
}

func (r *Runtime) checkHealth(ctx context.Context, t *tracked) {
	err := r.healthy(ctx, t.inst)
	if ctx.Err() != nil {
		return
	}
	r.mu.Lock()
	var report bool
	if err == nil {
		t.failures, t.reported = 0, false
	} else {
		t.failures++
		if t.failures >= r.cfg.HealthFailures && !t.reported && !t.stopping && !t.dead {
			t.reported, report = true, true
		}
	}
	inst := t.inst
	r.mu.Unlock()
	if report {
		r.log.Warn("instance unhealthy", "instance", inst.ID, "ufop", inst.Name, "err", err)
		r.emit(Event{InstanceID: inst.ID, ContainerID: inst.ContainerID, Name: inst.Name, Version: inst.Version, Kind: Unhealthy, Time: time.Now()})
	}
}

// keepFirewall puts the rules back when something removed them.
func (r *Runtime) keepFirewall(ctx context.Context) {
	tick := time.NewTicker(r.cfg.FirewallCheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, fw := range r.fws {
			if fw.intact(ctx) {
				continue
			}
			r.log.Warn("firewall rules were changed, reinstalling", "chain", fw.chain, "cmd", fw.bin)
			if err := fw.install(ctx); err != nil && ctx.Err() == nil {
				r.log.Error("firewall reinstall failed", "chain", fw.chain, "err", err)
			}
		}
	}
}
