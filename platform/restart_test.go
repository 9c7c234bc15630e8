package platform_test

import (
	"context"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/container"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/platform"
)

func freePort(t *testing.T) int {
	n, err := strconv.Atoi(port(testenv.FreeAddr(t)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func restartableConfig(t *testing.T) platform.Config {
	cfg := platform.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Gateway.Addr = "127.0.0.1:0"
	cfg.EtcdClientAddr, cfg.EtcdPeerAddr, cfg.NATSPort = testenv.FreeAddr(t), testenv.FreeAddr(t), -1
	return cfg
}

// TestStateAfterRestart is issue 15's point 3: after an agent restarts
// (same ID), ufopctl state never shows the instances stopped before the
// restart as healthy, from the first answer on.
func TestStateAfterRestart(t *testing.T) {
	needImages(t)
	testenv.RequireDocker(t)
	name := uniqueName("test-restart")
	cfg := restartableConfig(t)
	// A report left under a lease nobody revoked would live this long.
	cfg.Agent.Discovery.TTL = 10 * time.Second
	cfg.Agent.SweepGrace = 2 * cfg.Agent.Discovery.TTL
	p, stop := runPlatform(t, cfg)
	a := newAPI(t, p)
	deploy(t, a, name, "slow", 2)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	restart := time.Now()

	p2, _ := runPlatform(t, cfg)
	a2 := newAPI(t, p2)
	testenv.Eventually(t, 90*time.Second, func() bool {
		fresh := 0
		for _, in := range a2.state(name).Instances {
			if in.State != ufop.InstanceHealthy {
				continue
			}
			if in.Started.Before(restart) {
				t.Fatalf("%.1fs after the restart, state shows instance %s, stopped before it, as healthy (started %s)",
					time.Since(restart).Seconds(), in.ID, in.Started.Format(time.RFC3339Nano))
			}
			fresh++
		}
		return fresh == 2
	}, "2 instances healthy again after the restart")
}

// TestSweepDeadAgent is issue 15's point 2 end to end: the network and
// firewall chain of an agent of this cluster that died without cleanup
// (and is not registered) are swept by the running agent after the
// safety delay; another cluster's are left alone.
func TestSweepDeadAgent(t *testing.T) {
	testenv.RequireDocker(t)
	cfg := restartableConfig(t)
	cfg.Agent.Discovery.TTL = time.Second
	cfg.Agent.SweepGrace = 2 * time.Second
	cfg.Agent.SweepInterval = 200 * time.Millisecond
	p, _ := runPlatform(t, cfg)
	docker := dockerClient(t)

	cluster, err := catalog.ClusterID(context.Background(), p.EtcdClient(), catalog.DefaultConfig().Prefix)
	if err != nil {
		t.Fatal(err)
	}
	// leftovers runs a runtime of a made-up agent until its network and
	// firewall are up, then lets it die without Close.
	leftovers := func(agent, cluster string) (netName, chain string) {
		rt, err := container.New(container.Config{AgentID: agent, Cluster: cluster, AgentPort: freePort(t)}, docker, testenv.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- rt.Run(ctx) }()
		select {
		case <-rt.Ready():
		case err := <-done:
			t.Fatalf("runtime of %s: %v", agent, err)
		}
		cancel()
		<-done
		netName = "ufop-" + agent
		n, err := docker.NetworkInspect(context.Background(), netName, network.InspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		chain = "UFOP-" + n.Options["com.docker.network.bridge.name"]
		// Whatever the test's outcome, nothing stays.
		t.Cleanup(func() { rt.Close() })
		return netName, chain
	}
	present := func(netName, chain string) (n, c bool) {
		_, err := docker.NetworkInspect(context.Background(), netName, network.InspectOptions{})
		return !client.IsErrNotFound(err), exec.Command("iptables", "-w", "-S", chain).Run() == nil
	}
	deadNet, deadChain := leftovers("ufoptest-dead-"+cluster, cluster)
	otherNet, otherChain := leftovers("ufoptest-other-"+cluster, "another-"+cluster)
	if n, c := present(deadNet, deadChain); !n || !c {
		t.Fatalf("leftovers not in place: network %v chain %v", n, c)
	}
	testenv.Eventually(t, 60*time.Second, func() bool {
		n, c := present(deadNet, deadChain)
		return !n && !c
	}, "the dead agent's network and chain swept")
	if n, c := present(otherNet, otherChain); !n || !c {
		t.Errorf("another cluster's leftovers were touched: network %v chain %v", n, c)
	}
}
