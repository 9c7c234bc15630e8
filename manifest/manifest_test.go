package manifest

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop"
)

func TestParseManifestSpecExample(t *testing.T) {
	// The example of SPEC §4, but with a base image that has a shell.
	src := `
image: ufop/base:v1      # base image
build_script:
  - chmod +x ./handler
run: ["./handler"]
health_check: {path: /health, timeout: 3s}
resources: {cpu: 0.5, memory: 128Mi, pids: 64}
concurrency: 4
timeout: 30s
env: {KEY: value, DEBUG: true, N: 3}
`
	m, err := ParseManifest([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := Manifest{
		Image:       "ufop/base:v1",
		BuildScript: []string{"chmod +x ./handler"},
		Run:         []string{"./handler"},
		HealthCheck: HealthCheck{Path: "/health", Timeout: 3 * time.Second},
		Resources:   Resources{CPU: 0.5, Memory: 128 << 20, Pids: 64},
		Concurrency: 4,
		Timeout:     30 * time.Second,
		Env:         map[string]string{"KEY": "value", "DEBUG": "true", "N": "3"},
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got  %+v\nwant %+v", m, want)
	}
}

func TestParseManifestDefaults(t *testing.T) {
	m, err := ParseManifest([]byte("run: ./handler\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Manifest{
		Image:       ScratchImage,
		Run:         []string{"./handler"},
		HealthCheck: HealthCheck{Path: DefaultHealthPath, Timeout: DefaultHealthTimeout},
		Concurrency: DefaultConcurrency,
		Timeout:     DefaultTimeout,
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got  %+v\nwant %+v", m, want)
	}
}

func TestParseManifestValues(t *testing.T) {
	tests := []struct {
		yaml  string
		check func(Manifest) bool
	}{
		{"run: ./h\nresources: {memory: 1Gi}", func(m Manifest) bool { return m.Resources.Memory == 1<<30 }},
		{"run: ./h\nresources: {memory: 100M}", func(m Manifest) bool { return m.Resources.Memory == 100e6 }},
		{"run: ./h\nresources: {memory: 134217728}", func(m Manifest) bool { return m.Resources.Memory == 128<<20 }},
		{"run: ./h\nresources: {memory: 1.5Gi}", func(m Manifest) bool { return m.Resources.Memory == 3<<29 }},
		{"run: ./h\nresources: {cpu: 500m}", func(m Manifest) bool { return m.Resources.CPU == 0.5 }},
		{"run: ./h\nresources: {cpu: 2}", func(m Manifest) bool { return m.Resources.CPU == 2 }},
		{"run: ./h\ntimeout: 90", func(m Manifest) bool { return m.Timeout == 90*time.Second }},
		{"run: ./h\ntimeout: 1m30s", func(m Manifest) bool { return m.Timeout == 90*time.Second }},
		{"run: ./h\nhealth_check: {path: /ready}", func(m Manifest) bool {
			return m.HealthCheck == HealthCheck{Path: "/ready", Timeout: DefaultHealthTimeout}
		}},
		{`run: ./h -a "b c" 'd e' f\ g`, func(m Manifest) bool {
			return reflect.DeepEqual(m.Run, []string{"./h", "-a", "b c", "d e", "f g"})
		}},
		{`run: ["./h", "--x=$HOME"]`, func(m Manifest) bool { return reflect.DeepEqual(m.Run, []string{"./h", "--x=$HOME"}) }},
		{"image: busybox\nrun: [./h]", func(m Manifest) bool { return m.Image == "busybox" }},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			m, err := ParseManifest([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(m) {
				t.Fatalf("unexpected manifest %+v", m)
			}
		})
	}
}

func TestParseManifestRefusals(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"empty", "", "empty"},
		{"comment only", "# nothing\n", "empty"},
		{"no run", "image: scratch\n", "field run: missing"},
		{"empty run list", "run: []\n", "field run: empty"},
		{"empty run string", "run: '  '\n", "field run: empty"},
		{"run number", "run: 3\n", "field run: want a list of strings or a command line, got 3"},
		{"run item not string", "run: [./h, {a: b}]\n", "field run[1]: want a string"},
		{"run unterminated quote", "run: ./h \"abc\n", "field run: unterminated double quote"},
		{"unknown field", "run: ./h\nport: 80\n", "line 2: field port: unknown field"},
		{"unknown nested field", "run: ./h\nresources:\n  cpu: 1\n  gpu: 1\n", "line 4: field resources.gpu: unknown field"},
		{"duplicate field", "run: ./h\nrun: ./g\n", "line 2: field run: set twice"},
		{"line of nested value", "run: ./h\nresources:\n  pids: 0\n", "line 3: field resources.pids: want 1 to"},
		{"alias bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\nrun: ./h\n", "too deeply nested or aliased"},
		{"infinite float", "run: ./h\nresources: {cpu: .inf}\n", "field resources.cpu: .inf is not a finite number"},
		{"syntax error has line", "run: ./h\nenv: [a\n", "line"},
		{"top level list", "- run\n", "top level must be a mapping"},
		{"build_script with scratch", "run: ./h\nbuild_script: [make]\n", "field build_script: image scratch has no shell"},
		{"build_script not list", "image: busybox\nrun: ./h\nbuild_script: make\n", "field build_script: want a list"},
		{"bad image", "image: 'UPPER CASE'\nrun: ./h\n", "field image:"},
		{"health path relative", "run: ./h\nhealth_check: {path: health}\n", "field health_check.path"},
		{"health timeout garbage", "run: ./h\nhealth_check: {timeout: soon}\n", "field health_check.timeout"},
		{"health timeout too long", "run: ./h\nhealth_check: {timeout: 2h}\n", "field health_check.timeout"},
		{"health not mapping", "run: ./h\nhealth_check: /health\n", "field health_check: want a mapping"},
		{"cpu zero", "run: ./h\nresources: {cpu: 0}\n", "field resources.cpu"},
		{"cpu text", "run: ./h\nresources: {cpu: lots}\n", "field resources.cpu"},
		{"memory bytes typo", "run: ./h\nresources: {memory: 128}\n", "field resources.memory: want 6Mi to 1Ti"},
		{"memory docker suffix", "run: ./h\nresources: {memory: 128m}\n", "field resources.memory"},
		{"pids negative", "run: ./h\nresources: {pids: -1}\n", "field resources.pids"},
		{"pids fraction", "run: ./h\nresources: {pids: 1.5}\n", "field resources.pids: want an integer"},
		{"concurrency zero", "run: ./h\nconcurrency: 0\n", "field concurrency: want 1 to 1000"},
		{"concurrency string", "run: ./h\nconcurrency: four\n", "field concurrency: want an integer"},
		{"timeout negative", "run: ./h\ntimeout: -1s\n", "field timeout"},
		{"env bad key", "run: ./h\nenv: {1A: x}\n", "field env:"},
		{"env port", "run: ./h\nenv: {PORT_HTTP: 80}\n", "field env.PORT_HTTP"},
		{"env multiline", "run: ./h\nenv: {A: \"x\\ny\"}\n", "field env.A: value must be a single line"},
		{"env nested", "run: ./h\nenv: {A: [1]}\n", "field env.A: want a string"},
		{"oversized", "run: ./h\n#" + strings.Repeat("x", maxManifestBytes), "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseManifest([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("accepted %q", tt.yaml)
			}
			if ufop.KindOf(err) != ufop.KindInvalid {
				t.Errorf("kind %v, want invalid", ufop.KindOf(err))
			}
			msg := ufop.Message(err)
			if !strings.HasPrefix(msg, "ufop.yaml: ") || !strings.Contains(msg, tt.want) {
				t.Errorf("message %q, want it to start with ufop.yaml: and contain %q", msg, tt.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("message %q spans lines", msg)
			}
		})
	}
}

func TestManifestJSONRoundTrip(t *testing.T) {
	in := Manifest{
		Image:       "ufop/base:v2",
		BuildScript: []string{"chmod +x handler", "echo 'a\nb'"},
		Run:         []string{"./handler", "--flag", "a b"},
		HealthCheck: HealthCheck{Path: "/ready", Timeout: 1500 * time.Millisecond},
		Resources:   Resources{CPU: 0.25, Memory: 64 << 20, Pids: 32},
		Concurrency: 7,
		Timeout:     2 * time.Minute,
		Env:         map[string]string{"A": `quote " and $dollar`},
	}
	js, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Manifest
	if err := json.Unmarshal(js, &out); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip through %s\n got %+v\nwant %+v", js, out, in)
	}
	got, err := ImageManifest(map[string]string{LabelManifest: string(js)})
	if err != nil || !reflect.DeepEqual(got, in) {
		t.Fatalf("ImageManifest = %+v, %v", got, err)
	}
	if _, err := ImageManifest(map[string]string{}); err == nil {
		t.Fatal("ImageManifest accepted an image without the label")
	}
}

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{in: "./handler", want: []string{"./handler"}},
		{in: "  a   b\tc  ", want: []string{"a", "b", "c"}},
		{in: `a "b c" 'd e'`, want: []string{"a", "b c", "d e"}},
		{in: `a"b"'c'd`, want: []string{"abcd"}},
		{in: `"" ''`, want: []string{"", ""}},
		{in: `a\ b`, want: []string{"a b"}},
		{in: `"a\"b" "c\\d" "e\f" 'g\h'`, want: []string{`a"b`, `c\d`, `e\f`, `g\h`}},
		{in: "a \\\n b", want: []string{"a", "b"}},
		{in: `$HOME "$x"`, want: []string{"$HOME", "$x"}},
		{in: "", want: nil},
		{in: `a "b`, err: "unterminated double quote"},
		{in: `a 'b`, err: "unterminated single quote"},
		{in: `a \`, err: "lone backslash"},
		{in: "a\x00", err: "NUL"},
	}
	for _, tt := range tests {
		got, err := SplitCommand(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("SplitCommand(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte("run: ./handler\n"))
	f.Add([]byte("image: scratch\nrun: [\"./handler\"]\nhealth_check: {path: /health, timeout: 3s}\nresources: {cpu: 0.5, memory: 128Mi, pids: 64}\nconcurrency: 4\ntimeout: 30s\nenv: {KEY: value}\n"))
	f.Add([]byte("run: ./h 'a b' \"c\\\"d\"\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			if ufop.KindOf(err) != ufop.KindInvalid {
				t.Fatalf("error of kind %v: %v", ufop.KindOf(err), err)
			}
			return
		}
		if len(m.Run) == 0 || m.Concurrency < 1 || m.Timeout <= 0 || m.Image == "" {
			t.Fatalf("accepted an incomplete manifest %+v", m)
		}
		// Whatever is accepted must survive the label round trip.
		js, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseManifest(js)
		if err != nil {
			t.Fatalf("label %s does not parse back: %v", js, err)
		}
		if !reflect.DeepEqual(back, m) {
			t.Fatalf("round trip changed the manifest:\n%+v\n%+v", m, back)
		}
	})
}
