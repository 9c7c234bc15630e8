package ufopctl

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop"
)

func TestVersionFlag(t *testing.T) {
	h := newHarness(t)
	for _, args := range [][]string{{"--version"}, {"-version"}} {
		r := h.run(args...)
		if r.code != 0 || !regexp.MustCompile(`^ufopctl \S+ \(\S+\)\n$`).MatchString(r.stdout) || r.stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want \"ufopctl <version> (<commit>)\"", args, r.code, r.stdout, r.stderr)
		}
	}
	if n := h.api.count(); n != 0 {
		t.Errorf("--version sent %d requests", n)
	}
}

// TestHelpShowsNoSentinelDefaults: a required flag's "not set" value is
// not a default to show.
func TestHelpShowsNoSentinelDefaults(t *testing.T) {
	h := newHarness(t)
	for _, cmd := range commands() {
		if cmd.name == "help" {
			continue
		}
		r := h.run(append(strings.Fields(cmd.name), "-h")...)
		if r.code != 0 || !strings.Contains(r.stdout, "usage: ufopctl "+cmd.name) {
			t.Fatalf("%s -h: exit %d, stdout %q, stderr %q", cmd.name, r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout, "(default -1)") {
			t.Errorf("%s -h shows a sentinel default:\n%s", cmd.name, r.stdout)
		}
	}
}

func TestResizeWait(t *testing.T) {
	inst := func(id string, s ufop.InstanceState) ufop.Instance {
		return ufop.Instance{ID: id, UFOP: "sepia", Version: 2, State: s, Agent: "node1"}
	}
	u := sepia
	u.Instances = 2
	states := []UFOPState{
		{UFOP: u, Instances: []ufop.Instance{}},
		{UFOP: u, Instances: []ufop.Instance{inst("a", ufop.InstanceStarting), inst("b", ufop.InstanceStarting)}},
		{UFOP: u, Instances: []ufop.Instance{inst("a", ufop.InstanceHealthy), inst("b", ufop.InstanceStarting)}},
		{UFOP: u, Instances: []ufop.Instance{inst("a", ufop.InstanceHealthy), inst("b", ufop.InstanceHealthy)}},
	}
	down := u
	down.Instances = 0
	tests := []struct {
		name           string
		args           []string
		states         []UFOPState
		code           int
		stdout, stderr string
	}{
		{"up", []string{"resize", "sepia", "-n", "2", "--wait", "--interval", "1ms"}, states, 0,
			"sepia: 2 instances desired\n" +
				"sepia: 0/2 instances healthy\n" +
				"sepia: 0/2 instances healthy, 2 starting\n" +
				"sepia: 1/2 instances healthy, 1 starting\n" +
				"sepia: 2/2 instances healthy\n", ""},
		{"down to zero", []string{"resize", "sepia", "-n", "0", "--wait", "--interval", "1ms"},
			[]UFOPState{{UFOP: down, Instances: []ufop.Instance{inst("a", ufop.InstanceStopping)}}, {UFOP: down, Instances: []ufop.Instance{}}}, 0,
			"sepia: 0 instances desired\nsepia: 0/0 instances healthy, 1 stopping\nsepia: 0/0 instances healthy\n", ""},
		{"timeout", []string{"resize", "sepia", "-n", "2", "--wait", "--interval", "1ms", "--timeout", "50ms"}, states[1:2], 1,
			"sepia: 2 instances desired\nsepia: 0/2 instances healthy, 2 starting\n",
			"ufopctl: resize sepia: not finished after 50ms: 0/2 instances healthy, 2 starting; it goes on, follow it with ufopctl state sepia\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.api.seedUFOP(sepia)
			h.api.withFakes(func(fu *fakeUFOPs) { fu.states = slices.Clone(tt.states) })
			r := h.run(tt.args...)
			if r.code != tt.code || r.stdout != tt.stdout || r.stderr != tt.stderr {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit %d\n%s\n%s", r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		h := newHarness(t)
		h.api.seedUFOP(sepia)
		h.api.withFakes(func(fu *fakeUFOPs) { fu.states = slices.Clone(states) })
		r := h.run("resize", "sepia", "-n", "2", "--wait", "--interval", "1ms", "-o", "json")
		st := decodeJSON[UFOPState](t, r.stdout)
		if r.code != 0 || len(st.Instances) != 2 || !strings.HasSuffix(r.stderr, "sepia: 2/2 instances healthy\n") {
			t.Fatalf("exit %d, state %+v, stderr %q", r.code, st, r.stderr)
		}
	})
}

func TestLogsJSON(t *testing.T) {
	tests := []struct {
		name string
		args []string
		logs string
		want []LogLine
	}{
		{"several instances", []string{"logs", "sepia", "-o", "json"},
			"==> sepia-a1 (sepia v2 on node1) <==\nstarted\n\n==> sepia-b2 (sepia v2 on node2) <==\nserving on :9100\nufop: logs of sepia-c3: its agent is not reachable\n",
			[]LogLine{{Instance: "sepia-a1", Line: "started"}, {Instance: "sepia-a1"}, {Instance: "sepia-b2", Line: "serving on :9100"}, {Instance: "sepia-c3", Error: "its agent is not reachable"}}},
		{"one instance", []string{"-o", "json", "logs", "sepia", "--instance", "sepia-a1"}, "a \"quoted\" line\nno newline at the end",
			[]LogLine{{Instance: "sepia-a1", Line: `a "quoted" line`}, {Instance: "sepia-a1", Line: "no newline at the end"}}},
		{"nothing", []string{"logs", "sepia", "-o", "json"}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.api.seedUFOP(sepia)
			h.api.withFakes(func(fu *fakeUFOPs) { fu.logs = tt.logs })
			r := h.run(tt.args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			var got []LogLine
			for _, line := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
				if line == "" {
					continue
				}
				var l LogLine
				if err := json.Unmarshal([]byte(line), &l); err != nil {
					t.Fatalf("line %q of\n%s\nis not JSON: %v", line, r.stdout, err)
				}
				got = append(got, l)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestJSONDurations: durations print as manifests write them, not as
// nanoseconds.
func TestJSONDurations(t *testing.T) {
	h := newHarness(t)
	u := sepia
	u.Scale = &ufop.ScalePolicy{Max: 3, Threshold: 2, Cooldown: 90 * time.Second}
	h.api.seedUFOP(u, sepiaVersions...)
	for _, args := range [][]string{
		{"-o", "json", "scale", "sepia", "--max", "3", "--threshold", "2", "--cooldown", "90s"},
		{"-o", "json", "info", "sepia"},
		{"-o", "json", "list"},
		{"-o", "json", "state", "sepia"},
	} {
		r := h.run(args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
		if !strings.Contains(r.stdout, `"cooldown": "1m30s"`) || strings.Contains(r.stdout, "90000000000") {
			t.Errorf("%v: cooldown not written as a duration string:\n%s", args, r.stdout)
		}
	}
	// Numbers that are not durations stay numbers, exactly.
	out, err := durationsAsStrings(map[string]any{"size": int64(1) << 60, "timeout": int64(3e9), "manifest": json.RawMessage(`{"timeout":"30s"}`)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	if string(b) != `{"manifest":{"timeout":"30s"},"size":1152921504606846976,"timeout":"3s"}` {
		t.Errorf("got %s", b)
	}
}

func TestBucketRmForce(t *testing.T) {
	h := newHarness(t)
	h.api.seed(t, "pics", false, map[string]string{"a.jpg": "a", "b/c.jpg": "c"})
	r := h.run("bucket", "rm", "pics")
	if r.code != 1 || !strings.Contains(r.stderr, "use --force to delete its objects too") {
		t.Fatalf("rm of a bucket with objects: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := h.run("bucket", "rm", "pics", "a.jpg", "--force"); r.code != 2 {
		t.Fatalf("--force with a key: exit %d, stderr %q", r.code, r.stderr)
	}
	r = h.run("bucket", "rm", "--force", "pics")
	if r.code != 0 || r.stdout != "deleted bucket pics\n" {
		t.Fatalf("rm --force: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	wantReq(t, h.api, "DELETE", "/v1/buckets/pics?force=1", "")
	if r := h.run("bucket", "ls"); strings.Contains(r.stdout, "pics") {
		t.Fatalf("bucket still listed:\n%s", r.stdout)
	}
}
