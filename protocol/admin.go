package protocol

import "github.com/ufop/ufop"

// Bodies of the admin API (SPEC §7) that the gateway and ufopctl both
// write or read. The paths are SPEC's.

// BucketOptions is the body of PUT /v1/buckets/<name>: the settable
// properties of a new bucket.
type BucketOptions struct {
	Private           bool     `json:"private"`
	Referers          []string `json:"referers,omitempty"`
	AllowEmptyReferer bool     `json:"allowEmptyReferer"`
	Mirror            string   `json:"mirror,omitempty"`
}

// NewUser is the answer to POST /v1/users: a created user with its first
// key pair, the only time the secret key is shown.
type NewUser struct {
	Name  string    `json:"name"`
	AK    string    `json:"ak"`
	SK    string    `json:"sk"`
	Tier  ufop.Tier `json:"tier"`
	Admin bool      `json:"admin"`
}

// NewKey is the answer to POST /v1/users/<name>/keys: the only time the
// new secret key is shown.
type NewKey struct {
	User string `json:"user"`
	AK   string `json:"ak"`
	SK   string `json:"sk"`
}

// LimitChange is the body of PUT /v1/limits/<user>: the fields given
// change, the others keep their value; 0 returns a field to the tier
// default. With Cmd, the rate and burst are for that command (a fop or
// UFOP name) alone.
type LimitChange struct {
	RPS         *float64 `json:"rps,omitempty"`
	Burst       *int     `json:"burst,omitempty"`
	Concurrency *int     `json:"concurrency,omitempty"`
	Cmd         string   `json:"cmd,omitempty"`
}

// TierLimits are the limits of a tier's users that no admin has set
// otherwise. A zero field means no limit. The numbers are for the whole
// cluster; each gateway enforces its share.
type TierLimits struct {
	RPS         float64 `json:"rps"`
	Burst       int     `json:"burst"`
	Concurrency int     `json:"concurrency"`
	// Commands are per-command rates (fop or UFOP name → requests/s),
	// with a burst of one second's worth.
	Commands map[string]float64 `json:"commands,omitempty"`
}
