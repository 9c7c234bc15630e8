package container

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
)

// TestSweepDeadAgents is issue 15's point 2: what an agent that died
// without cleanup left (container, network, firewall chain) is swept by a
// live agent of the same cluster, and only then: not while young, and
// never another cluster's.
func TestSweepDeadAgents(t *testing.T) {
	ctx := context.Background()
	cluster, other := "sweep-"+randSuffix(), "sweep-"+randSuffix()
	dead := newEnv(t, func(c *Config) { c.Cluster = cluster })
	foreign := newEnv(t, func(c *Config) { c.Cluster = other })
	deadInst := dead.startInstance(hostileSpec(nil))
	foreignInst := foreign.startInstance(hostileSpec(nil))
	// Both agents die without cleanup: Run ends, Close is never called.
	for _, e := range []*env{dead, foreign} {
		e.cancel()
		e.cancel = nil
	}
	live := newEnv(t, func(c *Config) { c.Cluster = cluster })
	registered := map[string]bool{live.cfg.AgentID: true}
	gone := func(agent string) bool { return !registered[agent] }

	type left struct {
		name      string
		container string
		network   string
		chain     string
	}
	leftovers := []left{
		{"dead agent, same cluster", deadInst.ContainerID, dead.cfg.NetworkName, chainName(dead.rt.net.bridge)},
		{"dead agent, other cluster", foreignInst.ContainerID, foreign.cfg.NetworkName, chainName(foreign.rt.net.bridge)},
	}
	present := func(l left) (c, n, ch bool) {
		_, err := live.docker.ContainerInspect(ctx, l.container)
		c = !client.IsErrNotFound(err)
		_, err = live.docker.NetworkInspect(ctx, l.network, network.InspectOptions{})
		n = !client.IsErrNotFound(err)
		ch = exec.Command("iptables", "-w", "-S", l.chain).Run() == nil
		return c, n, ch
	}
	for _, l := range leftovers {
		if c, n, ch := present(l); !c || !n || !ch {
			t.Fatalf("%s: leftovers not in place before the sweep: container %v network %v chain %v", l.name, c, n, ch)
		}
	}

	// Young resources are kept whatever the registry says.
	if sw, err := live.rt.Sweep(ctx, gone, time.Hour); err != nil || sw != (Swept{}) {
		t.Fatalf("Sweep with a long safety delay = %+v, %v; want nothing swept", sw, err)
	}
	poll(t, 60*time.Second, func() error {
		if _, err := live.rt.Sweep(ctx, gone, 0); err != nil {
			return err
		}
		if c, n, ch := present(leftovers[0]); c || n || ch {
			return fmt.Errorf("dead agent's leftovers remain: container %v network %v chain %v", c, n, ch)
		}
		return nil
	})
	if c, n, ch := present(leftovers[1]); !c || !n || !ch {
		t.Errorf("another cluster's leftovers were touched: container %v network %v chain %v", c, n, ch)
	}
	// The live agent's own network is its own.
	if _, err := live.docker.NetworkInspect(ctx, live.cfg.NetworkName, network.InspectOptions{}); err != nil {
		t.Errorf("live agent's network: %v", err)
	}
	// The foreign leftovers go with the test.
	live.docker.ContainerRemove(ctx, foreignInst.ContainerID, container.RemoveOptions{Force: true})
}
