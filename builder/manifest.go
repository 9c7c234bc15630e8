package builder

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"sigs.k8s.io/yaml"

	"github.com/ufop/ufop"
)

// ManifestFile is the name of the manifest at the package root.
const ManifestFile = "ufop.yaml"

// Image labels set on every built image.
const (
	LabelName     = "ufop.name"
	LabelVersion  = "ufop.version"
	LabelManifest = "ufop.manifest" // the Manifest as JSON (Manifest.MarshalJSON)
)

// ScratchImage is the empty base image: no shell, so no build_script.
const ScratchImage = "scratch"

// PortHTTP is the port an instance listens on (SPEC §5); the image sets
// $PORT_HTTP to it.
const PortHTTP = 9100

// Protocol defaults for fields ufop.yaml leaves out. Resources default from
// Config.DefaultResources instead, because operators size them.
const (
	DefaultHealthPath    = "/health"
	DefaultHealthTimeout = 3 * time.Second
	DefaultConcurrency   = 1
	DefaultTimeout       = 30 * time.Second
)

// Bounds on manifest values: sanity limits that catch typos (memory: 128
// meaning bytes), not capacity planning, which the scheduler does.
const (
	maxManifestBytes = 64 << 10
	minMemory        = 6 << 20 // the Docker engine refuses less
	maxMemory        = 1 << 40
	maxCPU           = 1024
	maxPids          = 1 << 22
	maxConcurrency   = 1000
	maxTimeout       = time.Hour
	maxHealthTimeout = time.Minute
)

// Manifest is a parsed, validated ufop.yaml (SPEC §4).
type Manifest struct {
	// Image is the base image: "scratch", an image present on the engine,
	// or ufop/<name>:v<N>.
	Image string
	// BuildScript are shell steps run at build time in the package
	// directory, as root, without network.
	BuildScript []string
	// Run is the start command in exec form.
	Run         []string
	HealthCheck HealthCheck
	// Resources limit one instance; zero fields take Config.DefaultResources
	// when the manifest comes from a Package.
	Resources Resources
	// Concurrency is how many requests one instance handles at once.
	Concurrency int
	// Timeout bounds one request.
	Timeout time.Duration
	Env     map[string]string
}

// HealthCheck is where and how long the platform probes an instance.
type HealthCheck struct {
	Path    string
	Timeout time.Duration
}

// Resources are the limits of one instance.
type Resources struct {
	CPU    float64 // cores, may be fractional
	Memory int64   // bytes
	Pids   int64
}

func (r Resources) withDefaults(d Resources) Resources {
	if r.CPU == 0 {
		r.CPU = d.CPU
	}
	if r.Memory == 0 {
		r.Memory = d.Memory
	}
	if r.Pids == 0 {
		r.Pids = d.Pids
	}
	return r
}

// manifestJSON is the wire form of a Manifest: the ufop.yaml field names,
// durations as Go duration strings, memory in bytes. Being JSON it is also
// YAML, so ParseManifest reads it back.
type manifestJSON struct {
	Image       string            `json:"image"`
	BuildScript []string          `json:"build_script,omitempty"`
	Run         []string          `json:"run"`
	HealthCheck healthJSON        `json:"health_check"`
	Resources   *resourcesJSON    `json:"resources,omitempty"`
	Concurrency int               `json:"concurrency"`
	Timeout     string            `json:"timeout"`
	Env         map[string]string `json:"env,omitempty"`
}

type healthJSON struct {
	Path    string `json:"path"`
	Timeout string `json:"timeout"`
}

type resourcesJSON struct {
	CPU    float64 `json:"cpu,omitempty"`
	Memory int64   `json:"memory,omitempty"`
	Pids   int64   `json:"pids,omitempty"`
}

// MarshalJSON writes the manifest in ufop.yaml's shape (the ufop.manifest
// label).
func (m Manifest) MarshalJSON() ([]byte, error) {
	j := manifestJSON{
		Image:       m.Image,
		BuildScript: m.BuildScript,
		Run:         m.Run,
		HealthCheck: healthJSON{Path: m.HealthCheck.Path, Timeout: m.HealthCheck.Timeout.String()},
		Concurrency: m.Concurrency,
		Timeout:     m.Timeout.String(),
		Env:         m.Env,
	}
	if m.Resources != (Resources{}) {
		j.Resources = &resourcesJSON{CPU: m.Resources.CPU, Memory: m.Resources.Memory, Pids: m.Resources.Pids}
	}
	return json.Marshal(j)
}

// UnmarshalJSON parses and validates like ParseManifest.
func (m *Manifest) UnmarshalJSON(data []byte) error {
	parsed, err := ParseManifest(data)
	if err != nil {
		return err
	}
	*m = parsed
	return nil
}

// ImageManifest reads the manifest from the labels of an image this package
// built.
func ImageManifest(labels map[string]string) (Manifest, error) {
	raw, ok := labels[LabelManifest]
	if !ok {
		return Manifest{}, ufop.Errorf(ufop.KindInvalid, "image: no %s label; it was not built by ufop", LabelManifest)
	}
	return ParseManifest([]byte(raw))
}

// rawManifest receives ufop.yaml after its conversion to JSON. Fields that
// accept several shapes (run: list or string; memory: 128Mi or bytes) are
// decoded by hand so that every error names its field.
type rawManifest struct {
	Image       *string         `json:"image"`
	BuildScript any             `json:"build_script"`
	Run         any             `json:"run"`
	HealthCheck *rawHealthCheck `json:"health_check"`
	Resources   *rawResources   `json:"resources"`
	Concurrency any             `json:"concurrency"`
	Timeout     any             `json:"timeout"`
	Env         map[string]any  `json:"env"`
}

type rawHealthCheck struct {
	Path    any `json:"path"`
	Timeout any `json:"timeout"`
}

type rawResources struct {
	CPU    any `json:"cpu"`
	Memory any `json:"memory"`
	Pids   any `json:"pids"`
}

var (
	envKeyRE       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	yamlLineRE     = regexp.MustCompile(`\s+`)
	unknownFieldRE = regexp.MustCompile(`unknown field "([^"]*)"`)
)

// ParseManifest parses and validates ufop.yaml. It is strict: unknown or
// duplicate fields are refused, and every error names the field (or, for
// YAML syntax errors, the line). Fields left out take the protocol defaults;
// resources stay zero (see Resources).
func ParseManifest(data []byte) (Manifest, error) {
	if len(data) > maxManifestBytes {
		return Manifest{}, ufop.Errorf(ufop.KindInvalid, "%s: larger than %d KiB", ManifestFile, maxManifestBytes>>10)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return Manifest{}, ufop.Errorf(ufop.KindInvalid, "%s: empty; it needs at least a run command", ManifestFile)
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return Manifest{}, ufop.Errorf(ufop.KindInvalid, "%s: %s", ManifestFile, yamlMessage(err))
	}
	var raw rawManifest
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return Manifest{}, ufop.Errorf(ufop.KindInvalid, "%s: %s", ManifestFile, jsonMessage(err))
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return Manifest{}, ufop.Errorf(ufop.KindInvalid, "%s: empty; it needs at least a run command", ManifestFile)
	}
	return raw.manifest()
}

func (raw *rawManifest) manifest() (Manifest, error) {
	m := Manifest{
		Image:       ScratchImage,
		HealthCheck: HealthCheck{Path: DefaultHealthPath, Timeout: DefaultHealthTimeout},
		Concurrency: DefaultConcurrency,
		Timeout:     DefaultTimeout,
	}
	var err error
	if raw.Image != nil {
		m.Image = strings.TrimSpace(*raw.Image)
		if err := validateImage(m.Image); err != nil {
			return Manifest{}, err
		}
	}
	if raw.BuildScript != nil {
		if m.BuildScript, err = stringList("build_script", raw.BuildScript); err != nil {
			return Manifest{}, err
		}
		if len(m.BuildScript) > 0 && m.Image == ScratchImage {
			return Manifest{}, fieldErr("build_script", "image scratch has no shell to run it; use a base image with /bin/sh or drop build_script")
		}
	}
	if m.Run, err = parseRun(raw.Run); err != nil {
		return Manifest{}, err
	}
	if h := raw.HealthCheck; h != nil {
		if h.Path != nil {
			p, ok := h.Path.(string)
			if !ok || !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \t\r\n?#") {
				return Manifest{}, fieldErr("health_check.path", "want a URL path such as /health, got %s", show(h.Path))
			}
			m.HealthCheck.Path = p
		}
		if h.Timeout != nil {
			if m.HealthCheck.Timeout, err = duration("health_check.timeout", h.Timeout, maxHealthTimeout); err != nil {
				return Manifest{}, err
			}
		}
	}
	if r := raw.Resources; r != nil {
		if r.CPU != nil {
			if m.Resources.CPU, err = cpu(r.CPU); err != nil {
				return Manifest{}, err
			}
		}
		if r.Memory != nil {
			if m.Resources.Memory, err = memory(r.Memory); err != nil {
				return Manifest{}, err
			}
		}
		if r.Pids != nil {
			if m.Resources.Pids, err = integer("resources.pids", r.Pids, 1, maxPids); err != nil {
				return Manifest{}, err
			}
		}
	}
	if raw.Concurrency != nil {
		c, err := integer("concurrency", raw.Concurrency, 1, maxConcurrency)
		if err != nil {
			return Manifest{}, err
		}
		m.Concurrency = int(c)
	}
	if raw.Timeout != nil {
		if m.Timeout, err = duration("timeout", raw.Timeout, maxTimeout); err != nil {
			return Manifest{}, err
		}
	}
	if len(raw.Env) > 0 {
		m.Env = make(map[string]string, len(raw.Env))
		for k, v := range raw.Env {
			field := "env." + k
			if !envKeyRE.MatchString(k) {
				return Manifest{}, fieldErr("env", "%q is not a valid variable name (letters, digits, _; not starting with a digit)", k)
			}
			if k == "PORT_HTTP" {
				return Manifest{}, fieldErr(field, "PORT_HTTP is set by the platform (%d)", PortHTTP)
			}
			var s string
			switch v := v.(type) {
			case string:
				s = v
			case json.Number:
				s = v.String()
			case bool:
				s = strconv.FormatBool(v)
			default:
				return Manifest{}, fieldErr(field, "want a string, got %s", show(v))
			}
			if strings.ContainsAny(s, "\x00\r\n") {
				return Manifest{}, fieldErr(field, "value must be a single line")
			}
			m.Env[k] = s
		}
	}
	return m, nil
}

func fieldErr(field, format string, args ...any) error {
	return ufop.Errorf(ufop.KindInvalid, "%s: field %s: %s", ManifestFile, field, fmt.Sprintf(format, args...))
}

// show describes a decoded JSON value for an error message.
func show(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing"
	case string:
		return strconv.Quote(v)
	case json.Number:
		return v.String()
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}

// yamlMessage turns a yaml conversion error into one line that keeps the
// line number and drops the library's prefixes.
func yamlMessage(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "error converting YAML to JSON: ")
	s = strings.TrimPrefix(s, "yaml: ")
	s = strings.Replace(s, "unmarshal errors:", "", 1)
	return strings.TrimSpace(yamlLineRE.ReplaceAllString(s, " "))
}

func jsonMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Sprintf("the top level must be a mapping of fields, got a %s", te.Value)
		}
		return fmt.Sprintf("field %s: want %s, got %s", te.Field, typeName(te.Type.String()), te.Value)
	}
	if m := unknownFieldRE.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Sprintf("unknown field %q (known: image, build_script, run, health_check, resources, concurrency, timeout, env)", m[1])
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func typeName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "builder.raw"), strings.HasPrefix(goType, "*builder.raw"):
		return "a mapping"
	case strings.Contains(goType, "string"):
		return "a string"
	}
	return goType
}

func validateImage(img string) error {
	if img == "" {
		return fieldErr("image", "empty; use scratch or the name of an image on the engine")
	}
	if img == ScratchImage {
		return nil
	}
	if _, err := reference.ParseNormalizedNamed(img); err != nil {
		return fieldErr("image", "%q is not a valid image reference", img)
	}
	return nil
}

func stringList(field string, v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fieldErr(field, "want a list of strings, got %s", show(v))
	}
	out := make([]string, 0, len(list))
	for i, item := range list {
		s, ok := item.(string)
		if !ok {
			return nil, fieldErr(fmt.Sprintf("%s[%d]", field, i), "want a string, got %s", show(item))
		}
		if strings.TrimSpace(s) == "" {
			return nil, fieldErr(fmt.Sprintf("%s[%d]", field, i), "empty")
		}
		if strings.ContainsRune(s, 0) {
			return nil, fieldErr(fmt.Sprintf("%s[%d]", field, i), "contains a NUL byte")
		}
		out = append(out, s)
	}
	return out, nil
}

func parseRun(v any) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, fieldErr("run", "missing; give the start command, e.g. run: [\"./handler\"]")
	case string:
		args, err := SplitCommand(v)
		if err != nil {
			return nil, fieldErr("run", "%v", err)
		}
		if len(args) == 0 {
			return nil, fieldErr("run", "empty; give the start command, e.g. run: [\"./handler\"]")
		}
		return args, nil
	case []any:
		if len(v) == 0 {
			return nil, fieldErr("run", "empty; give the start command, e.g. run: [\"./handler\"]")
		}
		return stringList("run", v)
	}
	return nil, fieldErr("run", "want a list of strings or a command line, got %s", show(v))
}

// duration accepts a Go duration string ("3s", "1m30s") or a number of
// seconds.
func duration(field string, v any, max time.Duration) (time.Duration, error) {
	var d time.Duration
	switch v := v.(type) {
	case string:
		var err error
		if d, err = time.ParseDuration(strings.TrimSpace(v)); err != nil {
			return 0, fieldErr(field, "want a duration such as 30s, got %q", v)
		}
	case json.Number:
		f, err := v.Float64()
		if err != nil || f > max.Seconds() {
			return 0, fieldErr(field, "want at most %s, got %s seconds", max, v)
		}
		d = time.Duration(f * float64(time.Second))
	default:
		return 0, fieldErr(field, "want a duration such as 30s, got %s", show(v))
	}
	if d <= 0 || d > max {
		return 0, fieldErr(field, "want a duration above 0 and at most %s, got %s", max, d)
	}
	return d, nil
}

func integer(field string, v any, min, max int64) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fieldErr(field, "want an integer, got %s", show(v))
	}
	i, err := n.Int64()
	if err != nil {
		return 0, fieldErr(field, "want an integer, got %s", n)
	}
	if i < min || i > max {
		return 0, fieldErr(field, "want %d to %d, got %d", min, max, i)
	}
	return i, nil
}

// cpu accepts cores as a number (0.5) or Kubernetes millicores ("500m").
func cpu(v any) (float64, error) {
	var f float64
	var err error
	switch v := v.(type) {
	case json.Number:
		f, err = v.Float64()
	case string:
		s := strings.TrimSpace(v)
		if milli, ok := strings.CutSuffix(s, "m"); ok {
			f, err = strconv.ParseFloat(milli, 64)
			f /= 1000
		} else {
			f, err = strconv.ParseFloat(s, 64)
		}
	default:
		return 0, fieldErr("resources.cpu", "want a number of cores such as 0.5, got %s", show(v))
	}
	if err != nil || math.IsNaN(f) {
		return 0, fieldErr("resources.cpu", "want a number of cores such as 0.5 or 500m, got %s", show(v))
	}
	if f < 0.01 || f > maxCPU {
		return 0, fieldErr("resources.cpu", "want 0.01 to %d cores, got %g", maxCPU, f)
	}
	return f, nil
}

// memorySuffixes are the Kubernetes quantity suffixes. Docker's lower-case
// "m" is not accepted: in Kubernetes it means milli.
var memorySuffixes = map[string]int64{
	"":   1,
	"K":  1e3,
	"M":  1e6,
	"G":  1e9,
	"T":  1e12,
	"Ki": 1 << 10,
	"Mi": 1 << 20,
	"Gi": 1 << 30,
	"Ti": 1 << 40,
}

var memoryRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?)?$`)

func memory(v any) (int64, error) {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = v.String()
	case string:
		s = strings.TrimSpace(v)
	default:
		return 0, fieldErr("resources.memory", "want a size such as 128Mi, got %s", show(v))
	}
	m := memoryRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fieldErr("resources.memory", "want a size such as 128Mi or 1Gi, got %q", s)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fieldErr("resources.memory", "want a size such as 128Mi or 1Gi, got %q", s)
	}
	b := f * float64(memorySuffixes[m[2]])
	if b < minMemory || b > maxMemory {
		return 0, fieldErr("resources.memory", "want 6Mi to 1Ti, got %q", s)
	}
	return int64(b), nil
}

// sortedKeys returns the keys of m in order, for deterministic output.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
