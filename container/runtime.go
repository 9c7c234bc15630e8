package container

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ufop/ufop"
)

// DockerAPI is the part of the Docker SDK client the runtime uses;
// *client.Client implements it.
type DockerAPI interface {
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, container string, options container.StartOptions) error
	ContainerInspect(ctx context.Context, container string) (container.InspectResponse, error)
	ContainerKill(ctx context.Context, container, signal string) error
	ContainerWait(ctx context.Context, container string, condition container.WaitCondition) (<-chan container.WaitResponse, <-chan error)
	ContainerRemove(ctx context.Context, container string, options container.RemoveOptions) error
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerLogs(ctx context.Context, container string, options container.LogsOptions) (io.ReadCloser, error)
	ImageInspect(ctx context.Context, image string, _ ...client.ImageInspectOption) (image.InspectResponse, error)
	NetworkCreate(ctx context.Context, name string, options network.CreateOptions) (network.CreateResponse, error)
	NetworkInspect(ctx context.Context, network string, options network.InspectOptions) (network.Inspect, error)
	NetworkRemove(ctx context.Context, network string) error
	NetworkList(ctx context.Context, options network.ListOptions) ([]network.Summary, error)
	Events(ctx context.Context, options events.ListOptions) (<-chan events.Message, <-chan error)
}

var _ DockerAPI = (*client.Client)(nil)

// Instance is one running (or dead, not yet stopped) container of a UFOP.
type Instance struct {
	ID          string // the runtime's id, the ufop.instance label
	ContainerID string
	Name        string // the UFOP
	Version     int
	Image       string
	// Addr is the base URL of the instance's HTTP port, http://ip:9100,
	// reachable from the host only.
	Addr          string
	HealthPath    string
	HealthTimeout time.Duration
	Concurrency   int
	Started       time.Time
	// State is the engine's state when the Instance was read: "running",
	// "exited", ...
	State string
}

// EventKind says what happened to an instance.
type EventKind string

// The event kinds.
const (
	Died      EventKind = "died"      // the container exited or was killed, not by Stop
	OOM       EventKind = "oom"       // the kernel killed a process for memory (Died follows)
	Unhealthy EventKind = "unhealthy" // HealthFailures health checks in a row failed
)

// Event reports something the runtime did not ask for.
type Event struct {
	InstanceID  string
	ContainerID string
	Name        string
	Version     int
	Kind        EventKind
	ExitCode    int // Died only
	Time        time.Time
}

// Runtime starts, watches and stops the instances of one agent. Create it
// with New, call Run in a goroutine, then Start/Stop/List/Logs; Close after
// Run has returned.
type Runtime struct {
	cfg    Config
	docker DockerAPI
	log    *slog.Logger
	probe  *http.Client

	events chan Event
	ready  chan struct{} // closed when the network and firewall are up
	done   chan struct{} // closed when Run returns

	mu        sync.Mutex
	cluster   string // the LabelCluster value, set before Run
	runCalled bool
	closed    bool
	net       netState
	fws       []*firewall
	instances map[string]*tracked
	spares    map[string]*spare // by UFOP name; see Prepare
}

// tracked is what the runtime knows about an instance between Start (or
// List) and Stop.
type tracked struct {
	inst     *Instance
	starting bool // Start has not returned it yet
	stopping bool // Stop is in progress
	dead     bool
	failures int
	reported bool // Unhealthy sent for the current run of failures
}

type netState struct {
	id, bridge, gateway, subnet string
}

// New checks cfg and returns a Runtime; it talks to nothing yet.
func New(cfg Config, docker DockerAPI, logger *slog.Logger) (*Runtime, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if docker == nil || logger == nil {
		return nil, errors.New("container: New needs a Docker client and a logger")
	}
	return &Runtime{
		cfg:    cfg,
		docker: docker,
		log:    logger.With("component", "container", "network", cfg.NetworkName),
		// Health probes go to instance IPs on the local bridge only; no
		// proxy from the environment, no keep-alive to hold sockets open
		// into hostile programs.
		probe: &http.Client{Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
			DialContext:       (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		}},
		events:    make(chan Event, 256),
		ready:     make(chan struct{}),
		done:      make(chan struct{}),
		instances: make(map[string]*tracked),
		spares:    make(map[string]*spare),
	}, nil
}

// Ready is closed once Run has the network and the firewall in place;
// AgentAddr is valid from then on.
func (r *Runtime) Ready() <-chan struct{} { return r.ready }

// AgentAddr is the host:port instances use to reach the agent's local
// fetcher: the bridge gateway address and Config.AgentPort. The agent must
// listen there. Empty before Ready.
func (r *Runtime) AgentAddr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.net.gateway == "" {
		return ""
	}
	return net.JoinHostPort(r.net.gateway, strconv.Itoa(r.cfg.AgentPort))
}

// Events delivers deaths, OOM kills and failed health checks. It is closed
// when Run returns. The runtime never blocks on it: when the buffer (256)
// is full, events are dropped and logged.
func (r *Runtime) Events() <-chan Event { return r.events }

// Run sets up the network and the firewall, then watches the engine's
// events, checks the instances' health and keeps the firewall rules in
// place until ctx is canceled. It returns nil after a cancel, an error when
// the setup fails. Instances keep running when Run returns.
func (r *Runtime) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.runCalled {
		r.mu.Unlock()
		return errors.New("container: Run called twice")
	}
	r.runCalled = true
	r.mu.Unlock()
	defer close(r.done)
	defer close(r.events)

	if err := r.setup(ctx); err != nil {
		return err
	}
	close(r.ready)
	r.log.Info("container runtime ready", "bridge", r.net.bridge, "gateway", r.net.gateway, "subnet", r.net.subnet, "agentPort", r.cfg.AgentPort)

	var wg sync.WaitGroup
	wg.Go(func() { r.watchEvents(ctx) })
	wg.Go(func() { r.watchHealth(ctx) })
	wg.Go(func() { r.keepFirewall(ctx) })
	wg.Wait()
	return nil
}

// Close removes the firewall rules and the network when no instance is
// running on it any more; otherwise it leaves both, since the rules are what
// confines the survivors, for the next Runtime to adopt (a later Close
// tries again). Call it after Run returned. It is idempotent.
func (r *Runtime) Close() error {
	r.mu.Lock()
	ns, fws, done := r.net, r.fws, r.closed
	r.mu.Unlock()
	if done || ns.id == "" {
		return nil
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r.removeSpares(ctx)
	n, err := r.docker.NetworkInspect(ctx, ns.id, network.InspectOptions{})
	gone := client.IsErrNotFound(err)
	if err != nil && !gone {
		return fmt.Errorf("container: close: inspect network %s: %w", r.cfg.NetworkName, err)
	}
	if len(n.Containers) > 0 {
		r.log.Warn("instances still running: keeping network and firewall", "instances", len(n.Containers))
		return nil
	}
	var errs []error
	for _, fw := range fws {
		errs = append(errs, fw.remove(ctx))
	}
	if !gone {
		if err := r.docker.NetworkRemove(ctx, ns.id); err != nil && !client.IsErrNotFound(err) {
			errs = append(errs, fmt.Errorf("container: close: remove network %s: %w", r.cfg.NetworkName, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.log.Info("network and firewall removed")
	return nil
}

// Start creates and starts an instance of spec and waits until its health
// check answers 200, at most Config.StartTimeout. It waits for Ready first
// and refuses once Run has returned. A failed start leaves nothing behind.
func (r *Runtime) Start(ctx context.Context, spec Spec) (*Instance, error) {
	spec = spec.withDefaults(r.cfg)
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	select {
	case <-r.ready:
	case <-r.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("container: start %s: waiting for the runtime: %w", spec.Name, ctx.Err())
	}
	select {
	case <-r.done: // nobody would watch the instance
		return nil, ufop.Errorf(ufop.KindUnavailable, "ufop %s: the container runtime of this node is not running", spec.Name)
	default:
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, r.cfg.StartTimeout)
	defer cancel()
	begin := time.Now()

	var id, name, containerID string
	if sp := r.takeSpare(ctx, spec); sp != nil {
		// Created ahead (Prepare): the image was there then, the
		// container is what a create would make now.
		id, name, containerID = sp.id, sp.name, sp.containerID
	}
	inspected := time.Now()
	if containerID == "" {
		if _, err := r.docker.ImageInspect(ctx, spec.Image); err != nil {
			if client.IsErrNotFound(err) {
				return nil, ufop.Errorf(ufop.KindNotFound, "ufop %s v%d: image %s is not on this node", spec.Name, spec.Version, spec.Image)
			}
			return nil, fmt.Errorf("container: start %s: inspect image %s: %w", spec.Name, spec.Image, err)
		}
		id = newID()
		name = r.cfg.NetworkName + "-" + spec.Name + "-" + id
		cfg, host, netcfg := r.containerConfig(spec, id)
		inspected = time.Now()
		created, err := r.docker.ContainerCreate(ctx, cfg, host, netcfg, nil, name)
		if err != nil {
			return nil, fmt.Errorf("container: start %s: create %s: %w", spec.Name, name, err)
		}
		containerID = created.ID
	}
	inst := &Instance{
		ID: id, ContainerID: containerID, Name: spec.Name, Version: spec.Version, Image: spec.Image,
		HealthPath: spec.HealthPath, HealthTimeout: spec.HealthTimeout, Concurrency: spec.Concurrency,
	}
	t := &tracked{inst: inst, starting: true}
	r.mu.Lock()
	r.instances[id] = t
	r.mu.Unlock()

	fail := func(err error) (*Instance, error) {
		r.mu.Lock()
		t.stopping = true
		r.mu.Unlock()
		r.remove(ctx, inst)
		return nil, err
	}
	createdAt := time.Now()
	if err := r.docker.ContainerStart(ctx, containerID, container.StartOptions{}); err != nil {
		return fail(fmt.Errorf("container: start %s: start %s: %w", spec.Name, name, err))
	}
	startedAt := time.Now()
	info, err := r.docker.ContainerInspect(ctx, containerID)
	if err != nil {
		return fail(fmt.Errorf("container: start %s: inspect %s: %w", spec.Name, name, err))
	}
	if info.State != nil && !info.State.Running {
		// It exited already: the engine took its address back.
		return fail(ufop.Errorf(ufop.KindUpstream, "ufop %s v%d: instance exited with code %d before its health check passed",
			spec.Name, spec.Version, info.State.ExitCode))
	}
	ep := info.NetworkSettings.Networks[r.cfg.NetworkName]
	if ep == nil || ep.IPAddress == "" {
		return fail(fmt.Errorf("container: start %s: %s has no address on %s", spec.Name, name, r.cfg.NetworkName))
	}
	inst.Addr = "http://" + net.JoinHostPort(ep.IPAddress, strconv.Itoa(Port))
	if err := r.waitHealthy(ctx, inst); err != nil {
		if parent.Err() != nil { // the caller gave up, not the instance
			err = fmt.Errorf("container: start %s: %w", spec.Name, parent.Err())
		}
		return fail(err)
	}
	inst.Started = time.Now()
	inst.State = "running"
	r.mu.Lock()
	t.starting = false
	r.mu.Unlock()
	r.log.Info("instance started", "instance", id, "ufop", spec.Name, "version", spec.Version, "addr", inst.Addr, "took", time.Since(begin),
		"inspect", inspected.Sub(begin), "create", createdAt.Sub(inspected), "start", startedAt.Sub(createdAt), "health", time.Since(startedAt))
	cp := *inst
	return &cp, nil
}

// containerConfig is where the isolation of SPEC §5 is spelled out.
func (r *Runtime) containerConfig(spec Spec, id string) (*container.Config, *container.HostConfig, *network.NetworkingConfig) {
	env := []string{"PORT_HTTP=" + strconv.Itoa(Port)}
	for k, v := range spec.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env[1:])
	labels := map[string]string{}
	for k, v := range r.cfg.Labels {
		labels[k] = v
	}
	labels[LabelAgent] = r.cfg.AgentID
	labels[LabelNetwork] = r.cfg.NetworkName
	if c := r.clusterID(); c != "" {
		labels[LabelCluster] = c
	}
	labels[LabelInstance] = id
	labels[LabelName] = spec.Name
	labels[LabelVersion] = strconv.Itoa(spec.Version)
	labels[LabelHealthPath] = spec.HealthPath
	labels[LabelHealthTimeout] = spec.HealthTimeout.String()
	labels[LabelConcurrency] = strconv.Itoa(spec.Concurrency)

	grace := int((r.cfg.GracePeriod + time.Second - 1) / time.Second)
	yes, no := true, false
	pids := spec.Pids
	cfg := &container.Config{
		Image:       spec.Image,
		Env:         env,
		Labels:      labels,
		User:        "65534:65534",
		StopSignal:  "SIGTERM",
		StopTimeout: &grace, // for a plain `docker stop`; Stop does its own
	}
	host := &container.HostConfig{
		NetworkMode:    container.NetworkMode(r.cfg.NetworkName),
		RestartPolicy:  container.RestartPolicy{Name: container.RestartPolicyDisabled},
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges:true"},
		ReadonlyRootfs: true,
		Tmpfs:          map[string]string{"/tmp": fmt.Sprintf("rw,noexec,nosuid,nodev,size=%d,mode=1777", r.cfg.TmpfsBytes)},
		Privileged:     false,
		IpcMode:        container.IPCModePrivate,
		// docker-init as PID 1: reaps zombies and forwards SIGTERM even
		// to programs that install no handler (PID 1 ignores those).
		Init:    &yes,
		Sysctls: map[string]string{"net.ipv6.conf.all.disable_ipv6": "1"},
		LogConfig: container.LogConfig{Type: "local", Config: map[string]string{
			"max-size": strconv.Itoa(r.cfg.LogBytes / 2),
			"max-file": "2",
			"compress": "false",
		}},
		Resources: container.Resources{
			NanoCPUs:       int64(spec.CPU * 1e9),
			Memory:         spec.Memory,
			MemorySwap:     spec.Memory, // memory+swap = memory: no swap
			PidsLimit:      &pids,
			OomKillDisable: &no,
		},
	}
	netcfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{r.cfg.NetworkName: {}}}
	return cfg, host, netcfg
}

// waitHealthy polls the health path until 200, the container exits or ctx
// ends.
func (r *Runtime) waitHealthy(ctx context.Context, inst *Instance) error {
	delay := 20 * time.Millisecond
	for i := 0; ; i++ {
		if r.healthy(ctx, inst) == nil {
			return nil
		}
		// Checking the engine on every try would double the load; every
		// few tries is enough to fail fast on a crashing program.
		if i%4 == 3 {
			info, err := r.docker.ContainerInspect(ctx, inst.ContainerID)
			if err == nil && info.State != nil && !info.State.Running {
				return ufop.Errorf(ufop.KindUpstream, "ufop %s v%d: instance exited with code %d before its health check passed", inst.Name, inst.Version, info.State.ExitCode)
			}
		}
		select {
		case <-ctx.Done():
			return ufop.Errorf(ufop.KindUpstream, "ufop %s v%d: instance was not healthy (GET %s answering 200) within %s", inst.Name, inst.Version, inst.HealthPath, r.cfg.StartTimeout)
		case <-time.After(delay):
		}
		delay = min(delay*2, 250*time.Millisecond)
	}
}

// healthy does one health check.
func (r *Runtime) healthy(ctx context.Context, inst *Instance) error {
	ctx, cancel := context.WithTimeout(ctx, inst.HealthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, inst.Addr+inst.HealthPath, nil)
	if err != nil {
		return err
	}
	resp, err := r.probe.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check answered %s", resp.Status)
	}
	return nil
}

// Stop sends SIGTERM, waits up to Config.GracePeriod for the instance to
// exit, sends SIGKILL, then removes the container. A canceled ctx cuts the
// grace short but the container is still removed.
func (r *Runtime) Stop(ctx context.Context, id string) error {
	inst, err := r.find(ctx, id)
	if err != nil {
		return err
	}
	r.mu.Lock()
	t := r.instances[id]
	if t == nil {
		t = &tracked{inst: inst}
		r.instances[id] = t
	}
	t.stopping = true
	r.mu.Unlock()

	begin := time.Now()
	killed := false
	// Wait registers before the signal, so the exit cannot be missed.
	waitCtx, cancelWait := context.WithTimeout(ctx, r.cfg.GracePeriod)
	exited, waitErr := r.docker.ContainerWait(waitCtx, inst.ContainerID, container.WaitConditionNotRunning)
	if err := r.docker.ContainerKill(ctx, inst.ContainerID, "SIGTERM"); err == nil {
		select {
		case <-exited:
		case <-waitErr:
			killed = true // grace over (or ctx canceled, or the wait failed)
		}
	}
	cancelWait()
	if killed {
		r.log.Warn("instance ignored SIGTERM, killing it", "instance", id, "grace", r.cfg.GracePeriod)
	}
	r.remove(ctx, inst) // force: SIGKILL when still running
	r.log.Info("instance stopped", "instance", id, "ufop", inst.Name, "took", time.Since(begin), "killed", killed)
	return nil
}

// remove force-removes the container and forgets the instance. It uses its
// own deadline: an orphan costs more than a late return.
func (r *Runtime) remove(ctx context.Context, inst *Instance) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err := r.docker.ContainerRemove(ctx, inst.ContainerID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !client.IsErrNotFound(err) {
		r.log.Error("remove container failed", "instance", inst.ID, "container", inst.ContainerID, "err", err)
	}
	r.mu.Lock()
	delete(r.instances, inst.ID)
	r.mu.Unlock()
}

// find returns the instance with runtime id id, from memory or the engine.
func (r *Runtime) find(ctx context.Context, id string) (*Instance, error) {
	r.mu.Lock()
	t := r.instances[id]
	r.mu.Unlock()
	if t != nil {
		return t.inst, nil
	}
	list, err := r.list(ctx, filters.Arg("label", LabelInstance+"="+id))
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ufop.Errorf(ufop.KindNotFound, "no instance %q on this node", id)
	}
	return list[0], nil
}

// List returns every container of this agent and network, running or
// not, rebuilt from their labels; running ones are adopted: health checked
// and reported on Events from then on.
func (r *Runtime) List(ctx context.Context) ([]*Instance, error) {
	list, err := r.list(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, inst := range list {
		if _, ok := r.instances[inst.ID]; !ok && inst.State == "running" {
			cp := *inst
			r.instances[inst.ID] = &tracked{inst: &cp}
		}
	}
	return list, nil
}

func (r *Runtime) list(ctx context.Context, extra ...filters.KeyValuePair) ([]*Instance, error) {
	f := filters.NewArgs(append(extra,
		filters.Arg("label", LabelAgent+"="+r.cfg.AgentID),
		filters.Arg("label", LabelNetwork+"="+r.cfg.NetworkName))...)
	cs, err := r.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("container: list instances: %w", err)
	}
	out := make([]*Instance, 0, len(cs))
	for _, c := range cs {
		inst, err := instanceFromLabels(c.Labels)
		if err != nil {
			r.log.Warn("ignoring container with bad labels", "container", c.ID, "err", err)
			continue
		}
		inst.ContainerID = c.ID
		inst.Image = c.Image
		inst.State = string(c.State)
		inst.Started = time.Unix(c.Created, 0)
		if c.NetworkSettings != nil {
			if ep := c.NetworkSettings.Networks[r.cfg.NetworkName]; ep != nil && ep.IPAddress != "" {
				inst.Addr = "http://" + net.JoinHostPort(ep.IPAddress, strconv.Itoa(Port))
			}
		}
		out = append(out, inst)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// instanceFromLabels rebuilds what Start knew from a container's labels.
func instanceFromLabels(l map[string]string) (*Instance, error) {
	inst := &Instance{ID: l[LabelInstance], Name: l[LabelName], HealthPath: l[LabelHealthPath]}
	if inst.ID == "" || inst.Name == "" {
		return nil, errors.New("missing instance or name label")
	}
	var err error
	if inst.Version, err = strconv.Atoi(l[LabelVersion]); err != nil {
		return nil, fmt.Errorf("label %s: %w", LabelVersion, err)
	}
	if inst.HealthTimeout, err = time.ParseDuration(l[LabelHealthTimeout]); err != nil || inst.HealthTimeout <= 0 {
		inst.HealthTimeout = DefaultHealthTimeout
	}
	if inst.Concurrency, err = strconv.Atoi(l[LabelConcurrency]); err != nil || inst.Concurrency < 1 {
		inst.Concurrency = 1
	}
	if inst.HealthPath == "" || inst.HealthPath[0] != '/' {
		inst.HealthPath = DefaultHealthPath
	}
	return inst, nil
}

// Logs copies the instance's output (stdout and stderr, interleaved) to w;
// with follow it keeps copying until the instance exits or ctx ends, which
// is then not an error.
func (r *Runtime) Logs(ctx context.Context, id string, follow bool, w io.Writer) error {
	inst, err := r.find(ctx, id)
	if err != nil {
		return err
	}
	rc, err := r.docker.ContainerLogs(ctx, inst.ContainerID, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: follow})
	if err != nil {
		if client.IsErrNotFound(err) {
			return ufop.Errorf(ufop.KindNotFound, "no instance %q on this node", id)
		}
		return fmt.Errorf("container: logs of %s: %w", id, err)
	}
	defer rc.Close()
	if _, err := stdcopy.StdCopy(w, w, rc); err != nil && ctx.Err() == nil {
		return fmt.Errorf("container: logs of %s: %w", id, err)
	}
	return nil
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b[:])
}

// emit sends ev without ever blocking the runtime.
func (r *Runtime) emit(ev Event) {
	select {
	case r.events <- ev:
	default:
		r.log.Error("events buffer full, dropping event", "instance", ev.InstanceID, "kind", string(ev.Kind))
	}
}
