package ufop

import (
	"encoding/json"
	"time"
)

// ACLMode says who may use a UFOP (SPEC §6 reg -m). The identity checked
// is the owner of the bucket being processed: the account whose processing
// is used.
type ACLMode int

// The modes.
const (
	ModePublic    ACLMode = 0 // everyone
	ModeProtected ACLMode = 1 // the owner and the users granted
	ModePrivate   ACLMode = 2 // the owner only
)

// ValidUFOPName reports whether name has the form of a UFOP name: 5-20
// characters of a-z, 0-9, _ and - (SPEC §1). It is the one place the rule
// is written: the parser, the catalog, the builder and the container
// runtime all check names with it.
func ValidUFOPName(name string) bool {
	if len(name) < 5 || len(name) > 20 {
		return false
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// UFOP is a registered custom processor.
type UFOP struct {
	Name    string    `json:"name"`
	Owner   string    `json:"owner"`
	Desc    string    `json:"desc,omitempty"`
	Mode    ACLMode   `json:"mode"`
	Grants  []string  `json:"grants,omitempty"`
	Created time.Time `json:"created"`
	// Version is the image version new instances use (chver).
	Version int `json:"version"`
	// Rollout is the version running instances are being moved to
	// (upgrade); instances older than it are replaced, Step at a time.
	Rollout int `json:"rollout,omitempty"`
	Step    int `json:"step,omitempty"`
	// Instances is the desired number of instances (resize, or the scaler).
	Instances int `json:"instances"`
	// Scale is the autoscaling policy; nil means a fixed count.
	Scale *ScalePolicy `json:"scale,omitempty"`
}

// MayUse reports whether user may run the UFOP on their buckets.
func (u UFOP) MayUse(user string) bool {
	switch {
	case user == u.Owner, u.Mode == ModePublic:
		return true
	case u.Mode == ModeProtected:
		for _, g := range u.Grants {
			if g == user {
				return true
			}
		}
	}
	return false
}

// ScalePolicy is a UFOP's autoscaling policy (ufopctl scale).
type ScalePolicy struct {
	Min       int           `json:"min"`
	Max       int           `json:"max"`
	Threshold float64       `json:"threshold"` // pending tasks per instance
	Cooldown  time.Duration `json:"cooldown"`
	MaxStep   int           `json:"maxStep,omitempty"`
	// Idle is how long the queue must stay empty before a UFOP with
	// Min 0 goes to zero instances (DefaultScaleIdle when 0).
	Idle time.Duration `json:"idle,omitempty"`
}

// DefaultScaleIdle is a policy's Idle when it sets none.
const DefaultScaleIdle = 5 * time.Minute

// IdleOrDefault is p.Idle, or DefaultScaleIdle when unset.
func (p ScalePolicy) IdleOrDefault() time.Duration {
	if p.Idle > 0 {
		return p.Idle
	}
	return DefaultScaleIdle
}

// BuildState is the state of one image version.
type BuildState string

// The build states.
const (
	BuildRunning BuildState = "building"
	BuildOK      BuildState = "ok"
	BuildFailed  BuildState = "failed"
)

// Version is one built (or building) image of a UFOP.
type Version struct {
	UFOP     string     `json:"ufop"`
	N        int        `json:"version"`
	State    BuildState `json:"state"`
	Image    string     `json:"image,omitempty"`   // ufop/<name>:v<N>
	ImageID  string     `json:"imageId,omitempty"` // sha256:...
	Size     int64      `json:"size,omitempty"`
	Log      string     `json:"log,omitempty"` // tail of the build log
	Created  time.Time  `json:"created"`
	Finished time.Time  `json:"finished,omitempty"`
	// Manifest is the package's ufop.yaml as JSON (manifest.Manifest).
	Manifest json.RawMessage `json:"manifest,omitempty"`
}

// InstanceSpec is what an agent needs to start an instance.
type InstanceSpec struct {
	Image         string            `json:"image"`
	CPU           float64           `json:"cpu"`
	Memory        int64             `json:"memory"`
	Pids          int64             `json:"pids"`
	HealthPath    string            `json:"healthPath"`
	HealthTimeout time.Duration     `json:"healthTimeout"`
	Concurrency   int               `json:"concurrency"`
	Timeout       time.Duration     `json:"timeout"`
	Env           map[string]string `json:"env,omitempty"`
}

// Placement is the scheduler's decision that an instance of a UFOP
// version runs on an agent.
type Placement struct {
	ID      string       `json:"id"`
	UFOP    string       `json:"ufop"`
	Version int          `json:"version"`
	Agent   string       `json:"agent"`
	Spec    InstanceSpec `json:"spec"`
	Created time.Time    `json:"created"`
}

// InstanceState is the life-cycle state of an instance.
type InstanceState string

// The instance states.
const (
	InstanceStarting InstanceState = "starting"
	InstanceHealthy  InstanceState = "healthy"
	InstanceStopping InstanceState = "stopping"
	InstanceFailed   InstanceState = "failed"
)

// Instance is an agent's report on one placement.
type Instance struct {
	ID       string        `json:"id"`
	UFOP     string        `json:"ufop"`
	Version  int           `json:"version"`
	Agent    string        `json:"agent"`
	State    InstanceState `json:"state"`
	Inflight int           `json:"inflight"`
	Queued   int           `json:"queued"`
	Restarts int           `json:"restarts,omitempty"`
	Error    string        `json:"error,omitempty"`
	Started  time.Time     `json:"started"`
}
