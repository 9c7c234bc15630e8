package protocol

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/ufop/ufop"
)

// The internal HTTP API of an agent, called by gateways (and, for results,
// by other agents) with the cluster token as a bearer token.
const (
	// PathProcess takes a ProcessRequest and answers the processed bytes.
	PathProcess = "/v1/process"
	// PathInstanceLogs is the route of an instance's logs (InstanceLogsPath).
	PathInstanceLogs = "/v1/instances/{id}/logs"
	// PathResult is the route of a large queued result (ResultPath).
	PathResult = "/v1/results/{id}"
	// PathInputs is the prefix of the one-shot input URLs an agent gives
	// its own instances.
	PathInputs = "/v1/inputs/"
	// PathHealthz answers 200 when the process serves.
	PathHealthz = "/healthz"
	// PathMetrics serves Prometheus metrics.
	PathMetrics = "/metrics"
)

// InstanceLogsPath is the path of instance id's logs.
func InstanceLogsPath(id string) string { return "/v1/instances/" + id + "/logs" }

// ResultPath is the path of queued job id's result.
func ResultPath(id string) string { return "/v1/results/" + id }

// ProcessRequest is the body of POST PathProcess.
type ProcessRequest = ufop.Job

// InternalObjectsPath is the gateway's internal object endpoint, from
// which agents fetch sources: InternalObjectsPath + bucket + "/" + escaped key.
const InternalObjectsPath = "/_ufop/objects/"

// Headers of the internal API's responses, some passed on to clients.
const (
	HeaderErrorKind  = "X-Ufop-Error-Kind"
	HeaderRetryAfter = "Retry-After"
	HeaderCache      = "X-Ufop-Cache"
	HeaderAgent      = "X-Ufop-Agent"
	HeaderTiming     = "Server-Timing"
	// HeaderVersion names the UFOP versions that made a result
	// ("my-ufop/v2"), so a client can see an upgrade land.
	HeaderVersion = "X-Ufop-Version"
	// HeaderFacecrop reports the faces facecrop found.
	HeaderFacecrop = "X-Ufop-Facecrop"
	// HeaderGrant carries a job's read grant (ufop.Job.Grant) on fetches
	// from the gateway's internal object endpoint.
	HeaderGrant = "X-Ufop-Grant"
)

// Headers an agent sends to a UFOP instance with each request (SPEC §5).
const (
	HeaderBucket = "X-Ufop-Bucket"
	HeaderKey    = "X-Ufop-Key"
	HeaderReqid  = "X-Ufop-Reqid"
)

// The builder's internal API, called by gateways with the cluster token.
const (
	// PathBuild takes a package body and streams the build log, ending
	// with a result line (BuildResultPrefix).
	PathBuild = "/v1/build"
)

// BuildPath is the path and query of a build of version n of a UFOP.
func BuildPath(name string, n int) string {
	return PathBuild + "?ufop=" + name + "&version=" + strconv.Itoa(n)
}

// BuildRefusal is the JSON answer (status 400) of a build refused before it
// started; Kind is a ufop.Kind name, which the gateway maps to a status.
type BuildRefusal struct {
	Kind  string `json:"kind"`
	Error string `json:"error"`
}

// BuildResultPrefix starts the last line of a build's streamed answer; the
// rest of the line is a BuildResult as JSON.
const BuildResultPrefix = "#ufop-build "

// BuildResult is the outcome of one build.
type BuildResult struct {
	UFOP    string          `json:"ufop"`
	Version int             `json:"version"`
	State   ufop.BuildState `json:"state"`
	Image   string          `json:"image,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// Line is the result line of a build's streamed answer, with its newline.
func (r BuildResult) Line() string {
	b, _ := json.Marshal(r) // only strings and ints: cannot fail
	return BuildResultPrefix + string(b) + "\n"
}

// ParseBuildResult reads the last line of a build's streamed answer; ok is
// false for any other line.
func ParseBuildResult(line string) (res BuildResult, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(line), BuildResultPrefix)
	if !found || json.Unmarshal([]byte(rest), &res) != nil {
		return res, false
	}
	return res, true
}
