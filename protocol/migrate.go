package protocol

// Bulk migration (SPEC §11): a job's record, its lister's checkpoint and
// its progress live in etcd under MigratePrefix; its keys travel on the
// JetStream work-queue stream MigrateStream, one subject per job; list
// files of http(s) sources are kept in the JetStream object store
// MigrateListBucket.
const (
	// MigratePrefix holds migration jobs (MigrateJobKey), lister
	// checkpoints (MigrateCursorKey), progress (MigrateProgressKey) and
	// the lister election (MigrateLeaderKey).
	MigratePrefix = Root + "migrate/"

	MigrateStream        = "UFOP_MIGRATE"
	MigrateSubjectPrefix = "ufop.migrate."
	MigrateListBucket    = "UFOP_MIGRATE_LISTS"
)

// MigrateJobsPrefix is where every job record lives.
func MigrateJobsPrefix(prefix string) string { return prefix + "jobs/" }

// MigrateJobKey is the record of job name.
func MigrateJobKey(prefix, name string) string { return MigrateJobsPrefix(prefix) + name }

// MigrateCursorKey is the lister's checkpoint of job name.
func MigrateCursorKey(prefix, name string) string { return prefix + "cursor/" + name }

// MigrateProgressKey is the copy counters of job name.
func MigrateProgressKey(prefix, name string) string { return prefix + "progress/" + name }

// MigrateLeaderKey is the election of the agent that runs the listers.
func MigrateLeaderKey(prefix string) string { return prefix + "leader" }

// MigrateSubject is the subject of job name's keys.
func MigrateSubject(name string) string { return MigrateSubjectPrefix + name }

// MigrateConsumer is the durable consumer the agents share for job name.
func MigrateConsumer(name string) string { return "migrate-" + name }

// MigrateStart is the body of PUT /v1/migrations/<name>. An http(s)
// source's key list is uploaded first with PUT /v1/migrations/<name>/list.
type MigrateStart struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Workers int    `json:"workers,omitempty"`
	// AccessKey and SecretKey are the s3:// source's own credentials.
	AccessKey string `json:"access_key,omitempty"`
	SecretKey string `json:"secret_key,omitempty"`
}

// Migration states.
const (
	MigrateRunning = "running"
	MigratePaused  = "paused"
	MigrateDone    = "done"
	MigrateFailed  = "failed"
)

// MigrateFailure is one key that could not be copied.
type MigrateFailure struct {
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// MigrateStatus is the answer of GET /v1/migrations/<name> (and one row
// of GET /v1/migrations).
type MigrateStatus struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Listed  int64  `json:"listed"`
	Copied  int64  `json:"copied"`
	Skipped int64  `json:"skipped"`
	Failed  int64  `json:"failed"`
	Bytes   int64  `json:"bytes"`

	From    string `json:"from"`
	To      string `json:"to"`
	Owner   string `json:"owner"`
	Workers int    `json:"workers"`
	// ListingDone is set once every source key is queued; Listed is then
	// the total.
	ListingDone bool `json:"listing_done"`
	// Error says why a failed job failed.
	Error string `json:"error,omitempty"`
	// Failures are the first failed keys with their reasons.
	Failures []MigrateFailure `json:"failures,omitempty"`
	Started  string           `json:"started,omitempty"`
}

// MigrateVerify is the answer of GET /v1/migrations/<name>/verify: source
// keys absent from the bucket or different there. Truncated is set when
// the lists were cut at their cap.
type MigrateVerify struct {
	Missing   []string `json:"missing"`
	Different []string `json:"different"`
	Truncated bool     `json:"truncated,omitempty"`
	Checked   int64    `json:"checked"`
}
