package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"gopkg.in/yaml.v3"

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
// Limits.DefaultResources instead, because operators size them.
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
	maxCPU           = 256 // container.Spec accepts no more
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
	// Resources limit one instance; zero fields take Limits.DefaultResources
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
	envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	spaceRE  = regexp.MustCompile(`\s+`)
)

// knownFields is ufop.yaml's schema: the fields of the top level and of
// its nested mappings.
var knownFields = map[string][]string{
	"":             {"image", "build_script", "run", "health_check", "resources", "concurrency", "timeout", "env"},
	"health_check": {"path", "timeout"},
	"resources":    {"cpu", "memory", "pids"},
}

// ParseManifest parses and validates ufop.yaml. It is strict: unknown or
// duplicate fields are refused, and every error names the field and its
// line (or, for YAML syntax errors, the line). Fields left out take the
// protocol defaults; resources stay zero (see Resources). YAML 1.2 rules
// apply: only true and false are booleans, so "N: 1" is a variable N.
func ParseManifest(data []byte) (Manifest, error) {
	if len(data) > maxManifestBytes {
		return Manifest{}, ufop.Errorf(ufop.KindInvalid, "%s: larger than %d KiB", ManifestFile, maxManifestBytes>>10)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Manifest{}, ufop.Errorf(ufop.KindInvalid, "%s: %s", ManifestFile, yamlMessage(err))
	}
	if doc.Kind == 0 || len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
		return Manifest{}, ufop.Errorf(ufop.KindInvalid, "%s: empty; it needs at least a run command", ManifestFile)
	}
	conv := converter{lines: make(map[string]int)}
	top := doc.Content[0]
	if top.Kind == yaml.AliasNode {
		top = top.Alias
	}
	if top == nil || top.Kind != yaml.MappingNode {
		return Manifest{}, ufop.Errorf(ufop.KindInvalid, "%s: the top level must be a mapping of fields", ManifestFile)
	}
	tree, err := conv.value("", top)
	if err != nil {
		return Manifest{}, conv.located(err)
	}
	for _, parent := range []string{"", "health_check", "resources"} {
		fields := knownFields[parent]
		m, _ := tree.(map[string]any)
		if parent != "" {
			m, _ = m[parent].(map[string]any)
		}
		for k := range m {
			if !slices.Contains(fields, k) {
				return Manifest{}, conv.located(fieldErr(join(parent, k), "unknown field (known: %s)", strings.Join(fields, ", ")))
			}
		}
	}
	js, err := json.Marshal(tree)
	if err != nil {
		return Manifest{}, fmt.Errorf("%s: encode: %w", ManifestFile, err)
	}
	var raw rawManifest
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return Manifest{}, conv.located(jsonErr(err))
	}
	m, err := raw.manifest()
	if err != nil {
		return Manifest{}, conv.located(err)
	}
	return m, nil
}

func join(parent, field string) string {
	if parent == "" {
		return field
	}
	return parent + "." + field
}

// maxManifestNodes bounds the work of converting a manifest, aliases
// included ("billion laughs").
const maxManifestNodes = 10000

// converter turns a YAML node tree into JSON-like values (map[string]any,
// []any, string, json.Number, bool, nil) and remembers the line of every
// field.
type converter struct {
	lines map[string]int
	nodes int
}

func (c *converter) value(field string, n *yaml.Node) (any, error) {
	if c.nodes++; c.nodes > maxManifestNodes {
		return nil, fieldErr(field, "too deeply nested or aliased")
	}
	if field != "" {
		if _, ok := c.lines[field]; !ok {
			c.lines[field] = n.Line
		}
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, fieldErr(field, "unknown alias")
		}
		return c.value(field, n.Alias)
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
				return nil, fieldErr(field, "keys must be plain names (line %d)", k.Line)
			}
			name := join(field, k.Value)
			c.lines[name] = k.Line
			if _, dup := out[k.Value]; dup {
				return nil, fieldErr(name, "set twice")
			}
			val, err := c.value(name, v)
			if err != nil {
				return nil, err
			}
			out[k.Value] = val
		}
		return out, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			val, err := c.value(fmt.Sprintf("%s[%d]", field, i), item)
			if err != nil {
				return nil, err
			}
			out = append(out, val)
		}
		return out, nil
	case yaml.ScalarNode:
		return scalar(field, n)
	}
	return nil, fieldErr(field, "unsupported YAML node")
}

func scalar(field string, n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, fieldErr(field, "%v", err)
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			return nil, fieldErr(field, "%s is not a 64-bit integer", n.Value)
		}
		return json.Number(strconv.FormatInt(i, 10)), nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fieldErr(field, "%s is not a finite number", n.Value)
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
	default: // !!str, !!timestamp, !!binary and custom tags: the text as written
		return n.Value, nil
	}
}

// located adds the line of the field an error names.
func (c *converter) located(err error) error {
	var fe *fieldError
	if !errors.As(err, &fe) {
		return err
	}
	field := fe.field
	for field != "" {
		if line, ok := c.lines[field]; ok {
			return ufop.Errorf(ufop.KindInvalid, "%s: line %d: field %s: %s", ManifestFile, line, fe.field, fe.msg)
		}
		// A field that is absent (run: missing) has no line; its parent may.
		if i := strings.LastIndexAny(field, ".["); i > 0 {
			field = field[:i]
		} else {
			break
		}
	}
	return ufop.Errorf(ufop.KindInvalid, "%s: field %s: %s", ManifestFile, fe.field, fe.msg)
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

// fieldError is a problem with one field; ParseManifest turns it into a
// ufop error with the field's line.
type fieldError struct {
	field, msg string
}

func (e *fieldError) Error() string {
	return fmt.Sprintf("%s: field %s: %s", ManifestFile, e.field, e.msg)
}

func fieldErr(field, format string, args ...any) error {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
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

// yamlMessage turns a YAML syntax error into one line that keeps the line
// number and drops the library's prefix.
func yamlMessage(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	s = strings.Replace(s, "unmarshal errors:", "", 1)
	return strings.TrimSpace(spaceRE.ReplaceAllString(s, " "))
}

// jsonErr explains a shape mismatch (a list where a mapping belongs).
func jsonErr(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fieldErr(te.Field, "want %s, got %s", typeName(te.Type.String()), te.Value)
	}
	return ufop.Errorf(ufop.KindInvalid, "%s: %s", ManifestFile, strings.TrimPrefix(err.Error(), "json: "))
}

func typeName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "map["), strings.Contains(goType, "manifest.raw"):
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
	var out []string
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
		// The same rules as the list form, so the manifest reads back.
		list := make([]any, len(args))
		for i, a := range args {
			list[i] = a
		}
		return stringList("run", list)
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
