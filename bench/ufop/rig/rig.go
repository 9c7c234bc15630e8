// Package rig runs ufop's roles in one process for the UFOP and queue
// benchmarks: embedded etcd and NATS, one agent on the local Docker engine,
// the scheduler, scaler and builder, and two gateways over the same catalog and
// storage — one sending UFOP jobs through the NATS work queue, one calling
// the agent's /v1/process over HTTP — so both paths are measured side by
// side in one run, against the same instances.
package rig

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/agent"
	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/builder"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/container"
	"github.com/ufop/ufop/embedded"
	"github.com/ufop/ufop/gateway"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/queue"
	"github.com/ufop/ufop/scaler"
	"github.com/ufop/ufop/scheduler"
	"github.com/ufop/ufop/storage"
	"github.com/ufop/ufop/ufopctl"
)

// Rig is the running set of roles.
type Rig struct {
	// Queued sends UFOP pipelines through the work queue; Direct calls an
	// agent over HTTP.
	Queued, Direct *gateway.Gateway
	// Admin is a client of Queued as the admin.
	Admin    *ufopctl.Client
	AdminCfg ufopctl.Config
	Docker   *client.Client

	cancel  context.CancelFunc
	wg      sync.WaitGroup
	cleanup []func()
	once    sync.Once
}

// Start runs every role with its data under dir and returns once all serve.
func Start(ctx context.Context, dir string, logger *slog.Logger) (r *Rig, err error) {
	r = &Rig{}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	rctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	key, err := catalog.LoadMasterKey(filepath.Join(dir, "master.key"))
	if err != nil {
		return nil, err
	}
	etcd, err := embedded.StartEtcd(ctx, embedded.EtcdConfig{Dir: filepath.Join(dir, "etcd"), ClientAddr: freeAddr(), PeerAddr: freeAddr()}, logger)
	if err != nil {
		return nil, err
	}
	r.cleanup = append(r.cleanup, etcd.Close)
	nats, err := embedded.StartNATS(embedded.NATSConfig{Dir: filepath.Join(dir, "nats"), Port: -1}, logger)
	if err != nil {
		return nil, err
	}
	r.cleanup = append(r.cleanup, nats.Close)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd.ClientURL()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("rig: etcd client: %w", err)
	}
	r.cleanup = append(r.cleanup, func() { cli.Close() })
	store, err := storage.New(storage.Config{Dir: filepath.Join(dir, "objects")}, logger)
	if err != nil {
		return nil, err
	}
	r.cleanup = append(r.cleanup, func() { store.Close() })
	if r.Docker, err = container.Docker(ctx); err != nil {
		return nil, fmt.Errorf("rig: needs a Docker engine: %w", err)
	}
	r.cleanup = append(r.cleanup, func() { r.Docker.Close() })
	acfg := agent.DefaultConfig()
	acfg.ID = "bench-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	acfg.CacheDir = filepath.Join(dir, "cache")
	rt, err := container.ForAgent(r.Docker, acfg.ID, logger)
	if err != nil {
		return nil, err
	}
	bcfg := builder.DefaultServiceConfig()
	bcfg.ID = acfg.ID
	bsvc, err := builder.NewDockerService(r.Docker, bcfg, cli, logger)
	if err != nil {
		return nil, err
	}
	q, err := queue.Connect(ctx, nats.ClientURL(), queue.DefaultConfig(), logger)
	if err != nil {
		return nil, err
	}
	r.cleanup = append(r.cleanup, q.Close)
	ag, err := agent.New(acfg, agent.Deps{Etcd: cli, Runtime: rt, Queue: q, Logger: logger.With("role", "agent")})
	if err != nil {
		return nil, err
	}
	sched, err := scheduler.New(scheduler.DefaultConfig(), cli, logger)
	if err != nil {
		return nil, err
	}
	scfg := scaler.DefaultConfig()
	scfg.Catalog.MasterKey = key
	scl, err := scaler.New(scfg, cli, q, logger)
	if err != nil {
		return nil, err
	}
	gcfg := gateway.DefaultConfig()
	gcfg.Addr = "127.0.0.1:0"
	gcfg.Catalog.MasterKey = key
	if r.Queued, err = gateway.New(gcfg, gateway.Deps{Etcd: cli, Store: store, Queue: q, Logger: logger.With("role", "gateway-queued")}); err != nil {
		return nil, err
	}
	if r.Direct, err = gateway.New(gcfg, gateway.Deps{Etcd: cli, Store: store, Logger: logger.With("role", "gateway-direct")}); err != nil {
		return nil, err
	}
	type role struct {
		run   func(context.Context) error
		ready <-chan struct{}
	}
	errc := make(chan error, 6)
	for _, ro := range []role{{ag.Run, ag.Ready()}, {sched.Run, sched.Ready()}, {scl.Run, scl.Ready()}, {bsvc.Run, bsvc.Ready()},
		{r.Queued.Run, r.Queued.Ready()}, {r.Direct.Run, r.Direct.Ready()}} {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if err := ro.run(rctx); err != nil {
				errc <- err
			}
		}()
		select {
		case <-ro.ready:
		case err := <-errc:
			return nil, err
		case <-time.After(time.Minute):
			return nil, errors.New("rig: a role did not become ready in a minute")
		}
	}
	conf := filepath.Join(dir, "ufopctl.json")
	if err := r.Queued.EnsureAdmin(ctx, conf); err != nil {
		return nil, err
	}
	if r.AdminCfg, err = ufopctl.LoadConfig(conf); err != nil {
		return nil, err
	}
	r.Admin = ufopctl.NewClient(r.AdminCfg, nil)
	// The benches measure the UFOP path, not the per-user limiter.
	me, err := r.Admin.Whoami(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.Admin.Do(ctx, http.MethodPut, "/v1/limits/"+me.Name, mustJSON(map[string]any{"rps": 1e6, "burst": 1000000, "concurrency": 10000}), nil); err != nil {
		return nil, fmt.Errorf("rig: lift the admin's limits: %w", err)
	}
	// Routable: both gateways see the agent.
	deadline := time.Now().Add(time.Minute)
	for len(r.Queued.Registry().Agents()) == 0 || len(r.Direct.Registry().Agents()) == 0 {
		if time.Now().After(deadline) {
			return nil, errors.New("rig: the gateways do not see the agent")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r, nil
}

// Close stops the roles (gateways and agent drain), removes nothing from
// Docker, and is safe to call more than once.
func (r *Rig) Close() {
	r.once.Do(func() {
		if r.cancel != nil {
			r.cancel()
		}
		r.wg.Wait()
		for i := len(r.cleanup) - 1; i >= 0; i-- {
			r.cleanup[i]()
		}
	})
}

// RemoveContainers force-removes the instance containers of name, running
// or not (what a stopped agent leaves behind). Call it once the agent has
// stopped: a running one replaces what is removed under it.
func RemoveContainers(ctx context.Context, docker *client.Client, name string) {
	cs, _ := docker.ContainerList(ctx, dcontainer.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", container.LabelName+"="+name))})
	for _, c := range cs {
		docker.ContainerRemove(ctx, c.ID, dcontainer.RemoveOptions{Force: true})
	}
}

// Containers lists the running instance containers of a UFOP.
func Containers(ctx context.Context, docker *client.Client, name string) []dcontainer.Summary {
	cs, _ := docker.ContainerList(ctx, dcontainer.ListOptions{Filters: filters.NewArgs(filters.Arg("label", container.LabelName+"="+name))})
	return cs
}

// InstanceURLs returns http://<ip>:<port> of each running instance of a
// UFOP: reachable from the host, which is where the agent runs.
func InstanceURLs(ctx context.Context, docker *client.Client, name string) ([]string, error) {
	var urls []string
	for _, c := range Containers(ctx, docker, name) {
		ins, err := docker.ContainerInspect(ctx, c.ID)
		if err != nil {
			return nil, err
		}
		for _, n := range ins.NetworkSettings.Networks {
			if n.IPAddress != "" {
				urls = append(urls, "http://"+net.JoinHostPort(n.IPAddress, strconv.Itoa(container.Port)))
				break
			}
		}
	}
	sort.Strings(urls)
	return urls, nil
}

// Register registers a public UFOP.
func Register(ctx context.Context, cl *ufopctl.Client, name, desc string) error {
	return cl.Do(ctx, http.MethodPut, "/v1/ufops/"+name, mustJSON(map[string]any{"mode": 0, "desc": desc}), nil)
}

// Build uploads a package and returns the version built.
func Build(ctx context.Context, cfg ufopctl.Config, name, pkg string) (int, error) {
	body, err := os.ReadFile(pkg)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.Endpoint+"/v1/ufops/"+name+"/versions", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	auth.SignRequest(req, cfg.AK, cfg.SK, auth.BodyHash(body), time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("build %s: %s %s", name, resp.Status, out)
	}
	var res protocol.BuildResult
	for _, line := range bytes.Split(out, []byte("\n")) {
		if x, ok := protocol.ParseBuildResult(string(line)); ok {
			res = x
		}
	}
	if res.State != ufop.BuildOK {
		return 0, fmt.Errorf("build %s: %s: %s", name, res.State, res.Error)
	}
	return res.Version, nil
}

// State returns a UFOP's state as the admin API reports it.
func State(ctx context.Context, cl *ufopctl.Client, name string) (gateway.State, error) {
	var st gateway.State
	err := cl.Do(ctx, http.MethodGet, "/v1/ufops/"+name+"/state", nil, &st)
	return st, err
}

// Healthy counts the healthy instances in st.
func Healthy(st gateway.State) int {
	n := 0
	for _, in := range st.Instances {
		if in.State == ufop.InstanceHealthy {
			n++
		}
	}
	return n
}

// Resize sets the version and instance count of a UFOP and waits until that
// many instances are healthy; it returns how long that took.
func Resize(ctx context.Context, cl *ufopctl.Client, name string, version, n int) (time.Duration, error) {
	if err := cl.Do(ctx, http.MethodPut, "/v1/ufops/"+name+"/version", mustJSON(map[string]int{"version": version}), nil); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := cl.Do(ctx, http.MethodPut, "/v1/ufops/"+name+"/instances", mustJSON(map[string]int{"instances": n}), nil); err != nil {
		return 0, err
	}
	for {
		st, err := State(ctx, cl, name)
		if err == nil && Healthy(st) == n && len(st.Instances) == n {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%s: %d healthy instances not reached: %w", name, n, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer l.Close()
	return l.Addr().String()
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of plain values are marshaled here
	}
	return b
}
