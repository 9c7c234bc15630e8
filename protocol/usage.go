package protocol

import "time"

// Usage metering (SPEC §14).
const (
	// UsageBucket is the JetStream key-value bucket of usage sums: key
	// <owner>.<YYYYMMDD>.<HHMM> (UTC), one value per owner and minute.
	UsageBucket = "ufop_usage"
	// UsagePath is the admin API's usage endpoint: GET with the query
	// parameters below; the answer is a JSON array of UsageRow.
	UsagePath = "/v1/usage"
)

// Query parameters of UsagePath. Times are RFC 3339; by is minute, hour
// or day.
const (
	UsageParamUser   = "user"
	UsageParamBucket = "bucket"
	UsageParamFrom   = "from"
	UsageParamTo     = "to"
	UsageParamBy     = "by"
)

// UsageRow is one row of `ufopctl usage -o json`: the sums of one owner's
// bucket and command over the period starting at Time.
type UsageRow struct {
	Time      time.Time `json:"time"`
	User      string    `json:"user"`
	Bucket    string    `json:"bucket"`
	Cmd       string    `json:"cmd"`
	Requests  int64     `json:"requests"`
	Errors    int64     `json:"errors"`
	BytesOut  int64     `json:"bytes_out"`
	ProcessMS int64     `json:"process_ms"`
}
