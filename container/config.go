package container

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/ufop/ufop"
)

// Port is the port every instance listens on ($PORT_HTTP, SPEC §5).
const Port = 9100

// Labels the runtime puts on its containers, so that a restarted agent can
// rebuild its Instances from the engine alone (List).
const (
	LabelAgent         = "ufop.agent"
	LabelNetwork       = "ufop.network"
	LabelInstance      = "ufop.instance"
	LabelName          = "ufop.name"
	LabelVersion       = "ufop.version"
	LabelHealthPath    = "ufop.health.path"
	LabelHealthTimeout = "ufop.health.timeout"
	LabelConcurrency   = "ufop.concurrency"
	// LabelCluster scopes a sweep (Runtime.Sweep) to one platform: a
	// sweeper never touches what another cluster (or test run) created on
	// the same engine.
	LabelCluster = "ufop.cluster"
)

// Config configures a Runtime. The zero value of every field but AgentID
// takes a safe default.
type Config struct {
	// AgentID names the agent owning the instances; it is the ufop.agent
	// label of everything the runtime creates. Required.
	AgentID string
	// NetworkName is the agent's internal bridge network, "ufop-<AgentID>"
	// by default. Container names start with it.
	NetworkName string
	// Subnet, when set, is the network's IPv4 subnet (CIDR); else the
	// engine picks one from its pools.
	Subnet string
	// AgentPort is the port of the agent's local fetcher on the bridge
	// gateway address, the only host port instances may connect to.
	// Default 9101.
	AgentPort int
	// GracePeriod is the time between SIGTERM and SIGKILL on Stop.
	// Default 10s.
	GracePeriod time.Duration
	// StartTimeout bounds Start: create, start and first healthy answer.
	// Default 30s.
	StartTimeout time.Duration
	// LogBytes bounds the output kept per instance (the engine's "local"
	// log driver, two files of LogBytes/2). Default 1 MiB.
	LogBytes int
	// Labels are added to the network and every container.
	Labels map[string]string
	// Cluster is the LabelCluster value of everything the runtime creates
	// and the scope of Sweep; SetCluster may set it later, before Run.
	// Empty: nothing is labelled and Sweep does nothing.
	Cluster string
	// TmpfsBytes is the size of each instance's writable /tmp.
	// Default 64 MiB.
	TmpfsBytes int64
	// DefaultCPU, DefaultMemory and DefaultPids replace zero limits in a
	// Spec, so no instance ever runs unbounded. Defaults: 1 CPU, 256 MiB,
	// 128 processes/threads.
	DefaultCPU    float64
	DefaultMemory int64
	DefaultPids   int64
	// HealthInterval is the period of the health checks of running
	// instances; after HealthFailures failures in a row an Unhealthy event
	// is sent. Defaults 5s and 3.
	HealthInterval time.Duration
	HealthFailures int
	// FirewallCheck is how often Run verifies its rules are still in place
	// (a firewalld reload or an admin's flush would silently open the
	// host to the instances) and puts them back. Default 10s.
	FirewallCheck time.Duration
	// IPTables and IP6Tables are the firewall commands (their "-restore"
	// siblings are used too). Defaults "iptables" and "ip6tables"; IPv6
	// rules are skipped with a warning when ip6tables is missing (instances
	// run with IPv6 off anyway).
	IPTables  string
	IP6Tables string
}

// Defaults of Config.
const (
	DefaultAgentPort      = 9101
	DefaultGracePeriod    = 10 * time.Second
	DefaultStartTimeout   = 30 * time.Second
	DefaultLogBytes       = 1 << 20
	DefaultTmpfsBytes     = 64 << 20
	DefaultCPU            = 1.0
	DefaultMemory         = 256 << 20
	DefaultPids           = 128
	DefaultHealthInterval = 5 * time.Second
	DefaultHealthFailures = 3
	DefaultFirewallCheck  = 10 * time.Second
	DefaultHealthPath     = "/health"
	DefaultHealthTimeout  = 3 * time.Second

	// minMemory is the engine's lower bound for a memory limit.
	minMemory = 6 << 20
)

var (
	agentIDRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,39}$`)
	// Docker object names; a container name adds "-<ufop>-<id>" to it.
	networkRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)
	envKeyRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func (c Config) withDefaults() Config {
	if c.NetworkName == "" && c.AgentID != "" {
		c.NetworkName = "ufop-" + c.AgentID
	}
	if c.AgentPort == 0 {
		c.AgentPort = DefaultAgentPort
	}
	if c.GracePeriod == 0 {
		c.GracePeriod = DefaultGracePeriod
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.LogBytes == 0 {
		c.LogBytes = DefaultLogBytes
	}
	if c.TmpfsBytes == 0 {
		c.TmpfsBytes = DefaultTmpfsBytes
	}
	if c.DefaultCPU == 0 {
		c.DefaultCPU = DefaultCPU
	}
	if c.DefaultMemory == 0 {
		c.DefaultMemory = DefaultMemory
	}
	if c.DefaultPids == 0 {
		c.DefaultPids = DefaultPids
	}
	if c.HealthInterval == 0 {
		c.HealthInterval = DefaultHealthInterval
	}
	if c.HealthFailures == 0 {
		c.HealthFailures = DefaultHealthFailures
	}
	if c.FirewallCheck == 0 {
		c.FirewallCheck = DefaultFirewallCheck
	}
	if c.IPTables == "" {
		c.IPTables = "iptables"
	}
	if c.IP6Tables == "" {
		c.IP6Tables = "ip6tables"
	}
	return c
}

// Validate reports the first invalid field, after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case !agentIDRE.MatchString(c.AgentID):
		return fmt.Errorf("container: AgentID %q must be 1-40 chars of [a-zA-Z0-9_.-]", c.AgentID)
	case !networkRE.MatchString(c.NetworkName):
		return fmt.Errorf("container: NetworkName %q must be 1-63 chars of [a-zA-Z0-9_.-]", c.NetworkName)
	case c.AgentPort < 1 || c.AgentPort > 65535:
		return fmt.Errorf("container: AgentPort %d is not a TCP port", c.AgentPort)
	case c.GracePeriod < 0, c.StartTimeout < 0, c.HealthInterval < 0, c.FirewallCheck < 0:
		return fmt.Errorf("container: GracePeriod, StartTimeout, HealthInterval and FirewallCheck must be positive")
	case c.LogBytes < 4096:
		return fmt.Errorf("container: LogBytes %d is below 4096", c.LogBytes)
	case c.TmpfsBytes < 1<<20:
		return fmt.Errorf("container: TmpfsBytes %d is below 1 MiB", c.TmpfsBytes)
	case !(c.DefaultCPU > 0 && c.DefaultCPU <= 256), c.DefaultMemory < minMemory, c.DefaultPids < 8:
		return fmt.Errorf("container: default limits too small (cpu %g, memory %d, pids %d)", c.DefaultCPU, c.DefaultMemory, c.DefaultPids)
	case c.Cluster != "" && !clusterRE.MatchString(c.Cluster):
		return fmt.Errorf("container: Cluster %q must be 1-64 chars of [a-zA-Z0-9_.-]", c.Cluster)
	case c.HealthFailures < 1:
		return fmt.Errorf("container: HealthFailures %d must be at least 1", c.HealthFailures)
	}
	if c.Subnet != "" {
		p, err := netip.ParsePrefix(c.Subnet)
		if err != nil || !p.Addr().Is4() {
			return fmt.Errorf("container: Subnet %q is not an IPv4 CIDR", c.Subnet)
		}
	}
	for k := range c.Labels {
		if k == "" || strings.HasPrefix(k, "ufop.") {
			return fmt.Errorf("container: label %q is empty or uses the reserved ufop. prefix", k)
		}
	}
	return nil
}

// Spec describes one instance to start: a UFOP version's image and the
// resources, health check and environment of its manifest (SPEC §4).
type Spec struct {
	Name    string // the UFOP's name
	Version int    // the image version, ≥ 1
	Image   string // image reference present in the engine, e.g. ufop/name:v3
	Env     map[string]string
	// CPU in cores, Memory in bytes, Pids in tasks (processes and
	// threads); zero takes the Config default.
	CPU    float64
	Memory int64
	Pids   int64
	// HealthPath (default /health) must answer 200 within HealthTimeout
	// (default 3s) for the instance to count as healthy.
	HealthPath    string
	HealthTimeout time.Duration
	// Concurrency is recorded on the instance for the agent's dispatcher.
	Concurrency int
}

func (s Spec) withDefaults(c Config) Spec {
	if s.CPU == 0 {
		s.CPU = c.DefaultCPU
	}
	if s.Memory == 0 {
		s.Memory = c.DefaultMemory
	}
	if s.Pids == 0 {
		s.Pids = c.DefaultPids
	}
	if s.HealthPath == "" {
		s.HealthPath = DefaultHealthPath
	}
	if s.HealthTimeout == 0 {
		s.HealthTimeout = DefaultHealthTimeout
	}
	if s.Concurrency == 0 {
		s.Concurrency = 1
	}
	return s
}

// Validate checks a Spec (after defaults) and returns a KindInvalid error
// naming the field. Spec values come from user manifests.
func (s Spec) Validate() error {
	switch {
	case !ufop.ValidUFOPName(s.Name):
		return ufop.Errorf(ufop.KindInvalid, "ufop name %q must be 5-20 chars of [a-z0-9_-]", s.Name)
	case s.Version < 1:
		return ufop.Errorf(ufop.KindInvalid, "ufop %s: version %d must be at least 1", s.Name, s.Version)
	case s.Image == "" || strings.ContainsAny(s.Image, " \t\r\n\x00"):
		return ufop.Errorf(ufop.KindInvalid, "ufop %s: image reference %q is not valid", s.Name, s.Image)
	case !(s.CPU >= 0 && s.CPU <= 256): // also NaN
		return ufop.Errorf(ufop.KindInvalid, "ufop %s: resources.cpu %g must be between 0 and 256", s.Name, s.CPU)
	case s.Memory != 0 && s.Memory < minMemory:
		return ufop.Errorf(ufop.KindInvalid, "ufop %s: resources.memory %d is below the minimum of 6 MiB", s.Name, s.Memory)
	case s.Pids < 0 || s.Pids > 1<<22:
		return ufop.Errorf(ufop.KindInvalid, "ufop %s: resources.pids %d is out of range", s.Name, s.Pids)
	case s.Memory < 0:
		return ufop.Errorf(ufop.KindInvalid, "ufop %s: resources.memory %d is negative", s.Name, s.Memory)
	case s.HealthPath != "" && (!strings.HasPrefix(s.HealthPath, "/") || strings.ContainsAny(s.HealthPath, " \t\r\n\x00#")):
		return ufop.Errorf(ufop.KindInvalid, "ufop %s: health_check.path %q must be an absolute URL path", s.Name, s.HealthPath)
	case s.HealthTimeout < 0:
		return ufop.Errorf(ufop.KindInvalid, "ufop %s: health_check.timeout must be positive", s.Name)
	case s.Concurrency < 0:
		return ufop.Errorf(ufop.KindInvalid, "ufop %s: concurrency %d must be positive", s.Name, s.Concurrency)
	}
	for k, v := range s.Env {
		if !envKeyRE.MatchString(k) {
			return ufop.Errorf(ufop.KindInvalid, "ufop %s: env name %q must match [A-Za-z_][A-Za-z0-9_]*", s.Name, k)
		}
		if k == "PORT_HTTP" {
			return ufop.Errorf(ufop.KindInvalid, "ufop %s: env PORT_HTTP is set by the platform", s.Name)
		}
		if strings.IndexByte(v, 0) >= 0 {
			return ufop.Errorf(ufop.KindInvalid, "ufop %s: env %s holds a NUL byte", s.Name, k)
		}
	}
	return nil
}
