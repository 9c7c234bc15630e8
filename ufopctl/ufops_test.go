package ufopctl

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/manifest"
	"github.com/ufop/ufop/protocol"
)

// fakeUFOPs is the UFOP part of fakeAPI, following gateway/ufops.go's
// routes and answers. Builds check the package with the real
// manifest.ReadPackage and answer with a streamed log and result line, like
// the gateway relaying a builder.
type fakeUFOPs struct {
	ufops    map[string]*ufop.UFOP
	versions map[string][]ufop.Version
	// states are the answers of successive state calls; the last repeats.
	// Empty: the state is made from the UFOP, with no instances.
	states []UFOPState
	logs   string // the answer of logs; with follow=1 it then waits for the client to leave
	// buildErr makes builds fail with it; noResult makes the build answer
	// end before its result line.
	buildErr string
	noResult bool
	// gate, when set, holds the build answer after its first line until
	// closed, so a test can see the log arrive before the build ends.
	gate  chan struct{}
	built *manifest.Package // the last package received
}

func (f *fakeAPI) seedUFOP(u ufop.UFOP, versions ...ufop.Version) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ufops == nil {
		f.ufops = &fakeUFOPs{ufops: map[string]*ufop.UFOP{}, versions: map[string][]ufop.Version{}}
	}
	if u.Owner == "" {
		u.Owner = "admin"
	}
	if u.Created.IsZero() {
		u.Created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	}
	f.ufops.ufops[u.Name] = &u
	f.ufops.versions[u.Name] = versions
}

// fakes returns the UFOP state, made on first use. Its fields are
// guarded by f.mu: tests use withFakes.
func (f *fakeAPI) fakes() *fakeUFOPs {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ufops == nil {
		f.ufops = &fakeUFOPs{ufops: map[string]*ufop.UFOP{}, versions: map[string][]ufop.Version{}}
	}
	return f.ufops
}

// withFakes runs fn on the UFOP state with the lock held.
func (f *fakeAPI) withFakes(fn func(fu *fakeUFOPs)) {
	fu := f.fakes()
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(fu)
}

func (f *fakeAPI) ufopRoute(w http.ResponseWriter, r *http.Request, body []byte, user *ufop.User) error {
	fu := f.fakes()
	rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/v1/ufops"), "/")
	name, sub, _ := strings.Cut(rest, "/")
	if name == "" && r.Method == "GET" {
		f.mu.Lock()
		var out []ufop.UFOP
		for _, u := range fu.ufops {
			out = append(out, *u)
		}
		f.mu.Unlock()
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		writeJSON(w, map[string]any{"ufops": out})
		return nil
	}
	if sub == "" && r.Method == "PUT" {
		var in struct {
			Mode ufop.ACLMode `json:"mode"`
			Desc string       `json:"desc"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			return ufop.Errorf(ufop.KindInvalid, "reg: body is not JSON")
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := fu.ufops[name]; ok {
			return ufop.Errorf(ufop.KindConflict, "UFOP %q exists", name)
		}
		u := &ufop.UFOP{Name: name, Owner: user.Name, Mode: in.Mode, Desc: in.Desc, Created: time.Now().UTC()}
		fu.ufops[name] = u
		writeJSON(w, u)
		return nil
	}
	f.mu.Lock()
	u, ok := fu.ufops[name]
	f.mu.Unlock()
	if !ok {
		return ufop.Errorf(ufop.KindNotFound, "no such UFOP %q", name)
	}
	switch {
	case sub == "versions" && r.Method == "POST":
		return f.fakeBuild(w, r, u, body)
	case strings.HasPrefix(sub, "logs") && r.Method == "GET":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, fu.logs)
		w.(http.Flusher).Flush()
		if r.URL.Query().Get("follow") == "1" {
			<-r.Context().Done()
		}
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	update := func(in any, fn func()) error {
		if in != nil {
			if err := json.Unmarshal(body, in); err != nil {
				return ufop.Errorf(ufop.KindInvalid, "body is not JSON")
			}
		}
		fn()
		writeJSON(w, u)
		return nil
	}
	switch {
	case sub == "" && r.Method == "GET":
		writeJSON(w, UFOPInfo{UFOP: *u, Versions: fu.versions[name]})
	case sub == "" && r.Method == "DELETE":
		if u.Instances > 0 && r.URL.Query().Get("force") != "1" {
			return ufop.Errorf(ufop.KindConflict, "UFOP %q has instances (0 running, %d desired): resize it to 0 first, or use --force", name, u.Instances)
		}
		delete(fu.ufops, name)
		w.WriteHeader(http.StatusNoContent)
	case sub == "versions" && r.Method == "GET":
		writeJSON(w, UFOPVersions{Versions: nonNil(fu.versions[name]), Current: u.Version})
	case sub == "version" && r.Method == "PUT":
		var in struct{ Version int }
		return update(&in, func() {
			u.Version = in.Version
			if u.Rollout == 0 {
				u.Rollout = in.Version
			}
		})
	case sub == "instances" && r.Method == "PUT":
		var in struct{ Instances int }
		return update(&in, func() { u.Instances = in.Instances })
	case sub == "upgrade" && r.Method == "POST":
		var in struct{ Step int }
		return update(&in, func() { u.Rollout, u.Step = u.Version, max(in.Step, 1) })
	case sub == "scale" && r.Method == "PUT":
		var p ufop.ScalePolicy
		return update(&p, func() { u.Scale = &p })
	case sub == "state" && r.Method == "GET":
		st := UFOPState{UFOP: *u, Instances: []ufop.Instance{}}
		if len(fu.states) > 0 {
			st = fu.states[0]
			if len(fu.states) > 1 {
				fu.states = fu.states[1:]
			}
		}
		writeJSON(w, st)
	case strings.HasPrefix(sub, "grants/") && (r.Method == "PUT" || r.Method == "DELETE"):
		who := strings.TrimPrefix(sub, "grants/")
		return update(nil, func() {
			u.Grants = slices.DeleteFunc(u.Grants, func(s string) bool { return s == who })
			if r.Method == "PUT" {
				u.Grants = append(u.Grants, who)
			}
		})
	default:
		return ufop.Errorf(ufop.KindNotFound, "no route %s %s", r.Method, r.URL.Path)
	}
	return nil
}

// fakeBuild answers like gateway.buildUFOP: refuse a bad package with an
// error status, else stream the log and end with the result line.
func (f *fakeAPI) fakeBuild(w http.ResponseWriter, r *http.Request, u *ufop.UFOP, body []byte) error {
	pkg, err := manifest.ReadPackage(bytes.NewReader(body), manifest.DefaultLimits())
	if err != nil {
		return err
	}
	f.mu.Lock()
	fu := f.ufops
	fu.built = pkg
	n := len(fu.versions[u.Name]) + 1
	fu.versions[u.Name] = append(fu.versions[u.Name], ufop.Version{UFOP: u.Name, N: n, State: ufop.BuildRunning, Created: time.Now().UTC()})
	gate, buildErr, noResult := fu.gate, fu.buildErr, fu.noResult
	f.mu.Unlock()

	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "building %s version %d\n", u.Name, n)
	w.(http.Flusher).Flush()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return nil
		}
	}
	fmt.Fprintf(w, "package: %d files, %d bytes\nStep 1/2 : FROM scratch\nStep 2/2 : COPY . /ufop\n", pkg.Files(), pkg.Size())
	if noResult {
		return nil
	}
	res := protocol.BuildResult{UFOP: u.Name, Version: n, State: ufop.BuildOK, Image: fmt.Sprintf("ufop/%s:v%d", u.Name, n)}
	if buildErr != "" {
		res = protocol.BuildResult{UFOP: u.Name, Version: n, State: ufop.BuildFailed, Error: buildErr}
		fmt.Fprintf(w, "build failed: %s\n", buildErr)
	}
	b, _ := json.Marshal(res)
	fmt.Fprintf(w, "%s%s\n", protocol.BuildResultPrefix, b)
	return nil
}

// packageDir writes a small valid package (plus extra files) under dir.
func packageDir(t testing.TB, dir string, extra map[string]string) string {
	t.Helper()
	files := map[string]string{
		"ufop.yaml": "image: scratch\nrun: [\"./handler\"]\nconcurrency: 2\n",
		"handler":   "#!/bin/false\n",
	}
	for k, v := range extra {
		files[k] = v
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var (
	seeded = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sepia  = ufop.UFOP{Name: "sepia", Owner: "admin", Mode: ufop.ModeProtected, Desc: "sepia tone", Grants: []string{"bob"},
		Version: 2, Rollout: 2, Instances: 2, Created: seeded}
	sepiaVersions = []ufop.Version{
		{UFOP: "sepia", N: 1, State: ufop.BuildFailed, Created: seeded, Log: "exit 2"},
		{UFOP: "sepia", N: 2, State: ufop.BuildOK, Image: "ufop/sepia:v2", Created: seeded},
	}
	sepiaState = UFOPState{UFOP: sepia, Queue: 3, Instances: []ufop.Instance{
		{ID: "sepia-a1", UFOP: "sepia", Version: 2, Agent: "node1", State: ufop.InstanceHealthy, Inflight: 2, Queued: 3, Started: seeded},
		{ID: "sepia-b2", UFOP: "sepia", Version: 1, Agent: "node2", State: ufop.InstanceFailed, Restarts: 4, Error: "health check:\ntimeout", Started: seeded},
	}}
)

// TestUFOPVerbs runs each UFOP verb against the fake API, checking the
// signed request it sent and what it printed, in text and JSON.
func TestUFOPVerbs(t *testing.T) {
	withSepia := func(h *harness) { h.api.seedUFOP(sepia, sepiaVersions...) }
	tests := []struct {
		name   string
		setup  func(h *harness)
		args   []string
		method string
		uri    string
		body   string
		stdout string // exact, unless check is set
		check  func(t *testing.T, h *harness, r result)
	}{
		{
			name: "reg", args: []string{"reg", "sepia", "-m", "1", "-d", "sepia tone"},
			method: "PUT", uri: "/v1/ufops/sepia", body: `{"mode":1,"desc":"sepia tone"}`,
			stdout: "registered protected UFOP sepia\n",
		},
		{
			name: "reg json, flags first", args: []string{"-o", "json", "reg", "-m", "0", "my_op-1"},
			method: "PUT", uri: "/v1/ufops/my_op-1", body: `{"mode":0,"desc":""}`,
			check: func(t *testing.T, h *harness, r result) {
				u := decodeJSON[ufop.UFOP](t, r.stdout)
				if u.Name != "my_op-1" || u.Owner != "admin" || u.Mode != ufop.ModePublic {
					t.Fatalf("ufop %+v", u)
				}
			},
		},
		{
			name: "unreg", setup: withSepia, args: []string{"unreg", "sepia", "--force"},
			method: "DELETE", uri: "/v1/ufops/sepia?force=1",
			stdout: "unregistered sepia\n",
		},
		{
			name: "unreg without instances", args: []string{"unreg", "other"},
			setup:  func(h *harness) { h.api.seedUFOP(ufop.UFOP{Name: "other"}) },
			method: "DELETE", uri: "/v1/ufops/other",
			stdout: "unregistered other\n",
		},
		{
			name: "list",
			setup: func(h *harness) {
				withSepia(h)
				h.api.seedUFOP(ufop.UFOP{Name: "blur2", Owner: "bob", Mode: ufop.ModePublic, Instances: 1,
					Scale: &ufop.ScalePolicy{Min: 1, Max: 4, Threshold: 2}, Desc: "two\tlines\n"})
			},
			args: []string{"list"}, method: "GET", uri: "/v1/ufops",
			stdout: "NAME   OWNER  MODE       VERSION  INSTANCES     DESC\n" +
				"blur2  bob    public     -        1 (auto 1-4)  \"two\\tlines\\n\"\n" +
				"sepia  admin  protected  2        2             sepia tone\n",
		},
		{
			name: "list json, none", args: []string{"list", "-o", "json"}, method: "GET", uri: "/v1/ufops",
			stdout: "{\n  \"ufops\": []\n}\n",
		},
		{
			name: "info", setup: withSepia, args: []string{"info", "sepia"}, method: "GET", uri: "/v1/ufops/sepia",
			stdout: "name       sepia\nowner      admin\nmode       1 (protected)\ndesc       sepia tone\ngrants     bob\n" +
				"version    2\ninstances  2\ncreated    " + seedTime + "\n\n" +
				"VERSION      STATE   IMAGE          CREATED\n" +
				"1            failed  -              " + seedTime + "\n" +
				"2 (current)  ok      ufop/sepia:v2  " + seedTime + "\n",
		},
		{
			name: "info json", setup: withSepia, args: []string{"info", "sepia", "-o", "json"}, method: "GET", uri: "/v1/ufops/sepia",
			check: func(t *testing.T, h *harness, r result) {
				info := decodeJSON[UFOPInfo](t, r.stdout)
				if info.UFOP.Name != "sepia" || len(info.Versions) != 2 || info.Versions[0].Log != "exit 2" {
					t.Fatalf("info %+v", info)
				}
			},
		},
		{
			name: "version", setup: withSepia, args: []string{"version", "sepia"}, method: "GET", uri: "/v1/ufops/sepia/versions",
			stdout: "VERSION      STATE   IMAGE          CREATED\n" +
				"1            failed  -              " + seedTime + "\n" +
				"2 (current)  ok      ufop/sepia:v2  " + seedTime + "\n",
		},
		{
			name: "version json", setup: withSepia, args: []string{"-o", "json", "version", "sepia"}, method: "GET", uri: "/v1/ufops/sepia/versions",
			check: func(t *testing.T, h *harness, r result) {
				vs := decodeJSON[UFOPVersions](t, r.stdout)
				if vs.Current != 2 || len(vs.Versions) != 2 || vs.Versions[1].Image != "ufop/sepia:v2" {
					t.Fatalf("versions %+v", vs)
				}
			},
		},
		{
			name: "chver", setup: withSepia, args: []string{"chver", "sepia", "-c", "3"},
			method: "PUT", uri: "/v1/ufops/sepia/version", body: `{"version":3}`,
			stdout: "sepia: new instances use version 3\n",
			check: func(t *testing.T, h *harness, r result) {
				if r.stderr != "running instances keep version 2: run ufopctl upgrade sepia to replace them\n" {
					t.Fatalf("stderr %q", r.stderr)
				}
			},
		},
		{
			name: "resize", setup: withSepia, args: []string{"resize", "-n", "0", "sepia"},
			method: "PUT", uri: "/v1/ufops/sepia/instances", body: `{"instances":0}`,
			stdout: "sepia: 0 instances desired\n",
		},
		{
			name: "resize json", setup: withSepia, args: []string{"resize", "sepia", "-n", "5", "-o", "json"},
			method: "PUT", uri: "/v1/ufops/sepia/instances", body: `{"instances":5}`,
			check: func(t *testing.T, h *harness, r result) {
				if u := decodeJSON[ufop.UFOP](t, r.stdout); u.Instances != 5 {
					t.Fatalf("ufop %+v", u)
				}
			},
		},
		{
			name: "upgrade", setup: withSepia, args: []string{"upgrade", "sepia", "--step", "2"},
			method: "POST", uri: "/v1/ufops/sepia/upgrade", body: `{"step":2}`,
			stdout: "sepia: upgrading to version 2, 2 at a time (follow it with ufopctl state sepia)\n",
		},
		{
			name: "scale", setup: withSepia,
			args:   []string{"scale", "sepia", "--min", "1", "--max", "5", "--threshold", "2.5", "--cooldown", "30s", "--step", "2"},
			method: "PUT", uri: "/v1/ufops/sepia/scale", body: `{"min":1,"max":5,"threshold":2.5,"cooldown":30000000000,"maxStep":2}`,
			stdout: "sepia: autoscaling 1 to 5 instances at 2.5 pending per instance, cooldown 30s, 2 at a time\n",
		},
		{
			name: "scale to zero", setup: withSepia,
			args:   []string{"scale", "sepia", "--min", "0", "--max", "2", "--threshold", "1", "--idle", "90s"},
			method: "PUT", uri: "/v1/ufops/sepia/scale", body: `{"min":0,"max":2,"threshold":1,"cooldown":60000000000,"idle":90000000000}`,
			stdout: "sepia: autoscaling 0 to 2 instances at 1 pending per instance, cooldown 1m0s, to zero after 1m30s idle\n",
		},
		{
			name: "scale json, defaults", setup: withSepia,
			args:   []string{"scale", "sepia", "--max", "3", "--threshold", "4", "-o", "json"},
			method: "PUT", uri: "/v1/ufops/sepia/scale", body: `{"min":0,"max":3,"threshold":4,"cooldown":60000000000}`,
			check: func(t *testing.T, h *harness, r result) {
				// Durations print as strings, as in manifests.
				var u struct {
					Scale *struct {
						Min, Max  int
						Threshold float64
						Cooldown  string
					}
				}
				if err := json.Unmarshal([]byte(r.stdout), &u); err != nil || u.Scale == nil || u.Scale.Max != 3 || u.Scale.Threshold != 4 || u.Scale.Cooldown != "1m0s" {
					t.Fatalf("scale %+v", u.Scale)
				}
			},
		},
		{
			name: "state",
			setup: func(h *harness) {
				withSepia(h)
				h.api.withFakes(func(fu *fakeUFOPs) { fu.states = []UFOPState{sepiaState} })
			},
			args: []string{"state", "sepia"}, method: "GET", uri: "/v1/ufops/sepia/state",
			stdout: "sepia: version 2, 2 desired, 1 running, 3 queued, 1 being moved to version 2\n" +
				"ID        AGENT  VERSION  STATE    INFLIGHT  QUEUED  RESTARTS\n" +
				"sepia-a1  node1  2        healthy  2         3       0\n" +
				"sepia-b2  node2  1        failed   0         0       4\n" +
				"sepia-b2: health check: timeout\n",
		},
		{
			name: "state without instances", setup: withSepia,
			args: []string{"state", "sepia"}, method: "GET", uri: "/v1/ufops/sepia/state",
			stdout: "sepia: version 2, 2 desired, 0 running, 0 queued\n",
		},
		{
			name: "state json",
			setup: func(h *harness) {
				withSepia(h)
				h.api.withFakes(func(fu *fakeUFOPs) { fu.states = []UFOPState{sepiaState} })
			},
			args: []string{"state", "sepia", "-o", "json"}, method: "GET", uri: "/v1/ufops/sepia/state",
			check: func(t *testing.T, h *harness, r result) {
				st := decodeJSON[UFOPState](t, r.stdout)
				if st.Queue != 3 || len(st.Instances) != 2 || st.Instances[1].Restarts != 4 || st.UFOP.Name != "sepia" {
					t.Fatalf("state %+v", st)
				}
			},
		},
		{
			name: "logs of one instance",
			setup: func(h *harness) {
				withSepia(h)
				h.api.withFakes(func(fu *fakeUFOPs) { fu.logs = "listening on :9100\nGET /health 200\n" })
			},
			args: []string{"logs", "sepia", "--instance", "sepia-a1"}, method: "GET", uri: "/v1/ufops/sepia/logs?instance=sepia-a1",
			stdout: "listening on :9100\nGET /health 200\n",
		},
		{
			name: "grant", setup: withSepia, args: []string{"grant", "sepia", "carol"},
			method: "PUT", uri: "/v1/ufops/sepia/grants/carol",
			stdout: "carol may now use sepia\n",
		},
		{
			name: "revoke json", setup: withSepia, args: []string{"revoke", "sepia", "bob", "-o", "json"},
			method: "DELETE", uri: "/v1/ufops/sepia/grants/bob",
			check: func(t *testing.T, h *harness, r result) {
				if u := decodeJSON[ufop.UFOP](t, r.stdout); len(u.Grants) != 0 {
					t.Fatalf("grants %v", u.Grants)
				}
			},
		},
		{
			name:  "grant on a public UFOP notes it has no effect",
			setup: func(h *harness) { h.api.seedUFOP(ufop.UFOP{Name: "blur2", Mode: ufop.ModePublic}) },
			args:  []string{"grant", "blur2", "carol"}, method: "PUT", uri: "/v1/ufops/blur2/grants/carol",
			stdout: "carol may now use blur2\n",
			check: func(t *testing.T, h *harness, r result) {
				if r.stderr != "note: blur2 is public: grants only matter in mode 1 (protected)\n" {
					t.Fatalf("stderr %q", r.stderr)
				}
			},
		},
		{
			name: "help lists the UFOP verbs", args: []string{"help", "scale"},
			check: func(t *testing.T, h *harness, r result) {
				if !strings.HasPrefix(r.stdout, "usage: ufopctl scale <name> --max N") || !strings.Contains(r.stdout, "-cooldown time") {
					t.Fatalf("help:\n%s", r.stdout)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if tt.setup != nil {
				tt.setup(h)
			}
			r := h.run(tt.args...)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if tt.method == "" {
				if n := h.api.count(); n != 0 {
					t.Fatalf("sent %d requests, want none", n)
				}
			} else {
				wantReq(t, h.api, tt.method, tt.uri, tt.body)
			}
			if tt.check == nil || tt.stdout != "" {
				if r.stdout != tt.stdout {
					t.Fatalf("stdout:\n%s\nwant:\n%s", r.stdout, tt.stdout)
				}
			}
			if tt.check != nil {
				tt.check(t, h, r)
			}
		})
	}
}

// TestBuild uploads packages from a directory and from tarballs: the
// server receives a valid package signed with its hash, the log goes to
// stderr as lines, and stdout holds the version number (or the result).
func TestBuild(t *testing.T) {
	tarball := func(h *harness, gz bool) string {
		pkg, err := manifest.ReadDir(packageDir(h.t, filepath.Join(h.dir, "src"), nil), manifest.DefaultLimits())
		if err != nil {
			h.t.Fatal(err)
		}
		var buf bytes.Buffer
		name := "pkg.tar"
		if gz {
			zw := gzip.NewWriter(&buf)
			if err := pkg.WriteTar(zw); err != nil {
				h.t.Fatal(err)
			}
			zw.Close()
			name += ".gz"
		} else if err := pkg.WriteTar(&buf); err != nil {
			h.t.Fatal(err)
		}
		return h.file(name, buf.String())
	}
	tests := []struct {
		name   string
		src    func(h *harness) string
		json   bool
		exact  bool // the body is the file as it is
		wantIn []string
	}{
		{"directory", func(h *harness) string {
			return packageDir(h.t, filepath.Join(h.dir, "pkg"), map[string]string{"lib/data.bin": "0123456789"})
		}, false, false, []string{"handler", "lib/data.bin", "ufop.yaml"}},
		{"tar", func(h *harness) string { return tarball(h, false) }, false, true, []string{"handler", "ufop.yaml"}},
		{"tar.gz, json", func(h *harness) string { return tarball(h, true) }, true, true, []string{"handler", "ufop.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.api.seedUFOP(sepia, sepiaVersions...)
			src := tt.src(h)
			args := []string{"build", "sepia", "-f", src}
			if tt.json {
				args = append(args, "-o", "json")
			}
			r := h.run(args...)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			got := h.api.last()
			if got.Method != "POST" || got.URI != "/v1/ufops/sepia/versions" || !got.Signed {
				t.Fatalf("server saw %s %s signed %v", got.Method, got.URI, got.Signed)
			}
			if tt.exact {
				if b, _ := os.ReadFile(src); got.Body != string(b) {
					t.Fatal("the uploaded body is not the tarball as it is")
				}
			}
			var built *manifest.Package
			h.api.withFakes(func(fu *fakeUFOPs) { built = fu.built })
			m := built.Manifest()
			if built.Files() < len(tt.wantIn) || len(m.Run) != 1 || m.Run[0] != "./handler" || m.Concurrency != 2 {
				t.Fatalf("server got package with %d files, manifest %+v", built.Files(), m)
			}
			tr := tar.NewReader(strings.NewReader(got.Body))
			if tt.name == "tar.gz, json" {
				zr, err := gzip.NewReader(strings.NewReader(got.Body))
				if err != nil {
					t.Fatal(err)
				}
				tr = tar.NewReader(zr)
			}
			var have []string
			for {
				hdr, err := tr.Next()
				if err != nil {
					break
				}
				have = append(have, strings.TrimSuffix(hdr.Name, "/"))
			}
			for _, name := range tt.wantIn {
				if !slices.Contains(have, name) {
					t.Fatalf("uploaded tar has %v, want %s in it", have, name)
				}
			}
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			if len(lines) != 5 || !strings.HasPrefix(lines[0], "upload sepia package: 100% (") ||
				lines[1] != "building sepia version 3" || !strings.HasPrefix(lines[2], "package: ") ||
				lines[4] != "Step 2/2 : COPY . /ufop" {
				t.Fatalf("stderr:\n%s", r.stderr)
			}
			if strings.Contains(r.stderr, protocol.BuildResultPrefix) {
				t.Fatalf("the result line was printed as log:\n%s", r.stderr)
			}
			if !tt.json {
				if r.stdout != "3\n" {
					t.Fatalf("stdout %q, want the version number", r.stdout)
				}
				return
			}
			res := decodeJSON[protocol.BuildResult](t, r.stdout)
			if res != (protocol.BuildResult{UFOP: "sepia", Version: 3, State: ufop.BuildOK, Image: "ufop/sepia:v3"}) {
				t.Fatalf("result %+v", res)
			}
		})
	}
}

// TestBuildFailures: bad packages are refused before any request, a
// failed build exits 1 after its log, and a cut-off log is an error.
func TestBuildFailures(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(h *harness) string // returns the -f argument
		requests int                     // requests the server must see
		code     int
		last     string // the last line of stderr; SRC is replaced by the package path
		logLines int    // stderr lines before it
	}{
		{"symlink out of the package", func(h *harness) string {
			dir := packageDir(h.t, filepath.Join(h.dir, "pkg"), nil)
			if err := os.Symlink("../../etc/passwd", filepath.Join(dir, "escape")); err != nil {
				h.t.Fatal(err)
			}
			return dir
		}, 0, 1, `ufopctl: build sepia: package: entry "escape": symlink to "../../etc/passwd" points outside the package`, 0},
		{"no ufop.yaml", func(h *harness) string {
			dir := filepath.Join(h.dir, "pkg")
			os.MkdirAll(dir, 0o755)
			h.file("pkg/handler", "x")
			return dir
		}, 0, 1, "ufopctl: build sepia: package: ufop.yaml missing at the package root", 0},
		{"invalid ufop.yaml", func(h *harness) string {
			return packageDir(h.t, filepath.Join(h.dir, "pkg"), map[string]string{"ufop.yaml": "image: scratch\nconcurrency: many\n"})
		}, 0, 1, "", 0},
		{"missing source", func(h *harness) string { return filepath.Join(h.dir, "nope") }, 0, 1,
			"ufopctl: build sepia: stat SRC: no such file or directory", 0},
		{"bad tarball refused by the server", func(h *harness) string { return h.file("junk.tar", "not a tar at all") }, 1, 1, "", 0},
		{"build fails", func(h *harness) string {
			h.api.withFakes(func(fu *fakeUFOPs) { fu.buildErr = "build_script step 1 exited with status 2" })
			return packageDir(h.t, filepath.Join(h.dir, "pkg"), nil)
		}, 1, 1, "ufopctl: build sepia: version 3 failed: build_script step 1 exited with status 2", 6},
		{"log cut off", func(h *harness) string {
			h.api.withFakes(func(fu *fakeUFOPs) { fu.noResult = true })
			return packageDir(h.t, filepath.Join(h.dir, "pkg"), nil)
		}, 1, 1, "ufopctl: build sepia: the build log ended without a result: the build may still be running; check ufopctl version sepia", 5},
		{"no -f", func(h *harness) string { return "" }, 0, 2,
			"ufopctl: build: -f is required: the package directory or tarball (usage: ufopctl build <name> -f <dir|tar|tar.gz>)", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.api.seedUFOP(sepia, sepiaVersions...)
			src := tt.setup(h)
			args := []string{"build", "sepia"}
			if src != "" {
				args = append(args, "-f", src)
			}
			r := h.run(args...)
			if r.code != tt.code || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and no stdout", r.code, r.stdout, r.stderr, tt.code)
			}
			if n := h.api.count(); n != tt.requests {
				t.Fatalf("sent %d requests, want %d", n, tt.requests)
			}
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			last := lines[len(lines)-1]
			want := strings.ReplaceAll(tt.last, "SRC", src)
			if len(lines) != tt.logLines+1 || !strings.HasSuffix(r.stderr, "\n") ||
				!strings.HasPrefix(last, "ufopctl: build") || (want != "" && last != want) {
				t.Fatalf("stderr:\n%s\nwant %d lines, then %q", r.stderr, tt.logLines, want)
			}
		})
	}
}

// TestBuildLogStreams shows the client hands out log lines while the build
// is still going: the server holds the rest of its answer until the first
// line has been read.
func TestBuildLogStreams(t *testing.T) {
	f := newFakeAPI(t)
	f.seedUFOP(sepia)
	gate := make(chan struct{})
	f.withFakes(func(fu *fakeUFOPs) { fu.gate = gate })
	pkg, err := manifest.ReadDir(packageDir(t, t.TempDir(), nil), manifest.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	var tarball bytes.Buffer
	if err := pkg.WriteTar(&tarball); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var (
		mu       sync.Mutex // the transport reports progress from its own goroutine
		progress []int64
	)
	log, err := NewClient(f.config(), nil).Build(ctx, "sepia", bytes.NewReader(tarball.Bytes()), func(done, total int64) {
		mu.Lock()
		defer mu.Unlock()
		if total != int64(tarball.Len()) {
			t.Errorf("progress total %d, want %d", total, tarball.Len())
		}
		progress = append(progress, done)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(progress) < 2 || progress[0] != 0 || progress[len(progress)-1] != int64(tarball.Len()) {
		t.Fatalf("progress %v, want 0 … %d", progress, tarball.Len())
	}
	first, err := log.Next() // the server is blocked on gate: this must not wait for the end
	if err != nil || first != "building sepia version 1" {
		t.Fatalf("first line %q, %v", first, err)
	}
	if _, err := log.Result(); err == nil {
		t.Fatal("a result before the log ended")
	}
	close(gate)
	var lines []string
	for {
		line, err := log.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	res, err := log.Result()
	if err != nil || res.State != ufop.BuildOK || res.Version != 1 || len(lines) != 3 {
		t.Fatalf("lines %q, result %+v, %v", lines, res, err)
	}
}

// TestBuildLogParse covers where the result line is taken from: only the
// last line, so a build script printing the prefix cannot fake a result.
func TestBuildLogParse(t *testing.T) {
	ok := protocol.BuildResultPrefix + `{"ufop":"sepia","version":4,"state":"ok","image":"ufop/sepia:v4"}`
	fake := protocol.BuildResultPrefix + `{"ufop":"sepia","version":9,"state":"ok"}`
	failed := protocol.BuildResultPrefix + `{"ufop":"sepia","version":4,"state":"failed","error":"boom"}`
	tests := []struct {
		name    string
		in      string
		lines   []string
		version int
		state   ufop.BuildState
	}{
		{"plain", "a\nb\n" + ok + "\n", []string{"a", "b"}, 4, ufop.BuildOK},
		{"no final newline", "a\n" + ok, []string{"a"}, 4, ufop.BuildOK},
		{"crlf", "a\r\n" + ok + "\r\n", []string{"a"}, 4, ufop.BuildOK},
		{"failed", "a\n" + failed + "\n", []string{"a"}, 4, ufop.BuildFailed},
		{"a prefix printed by the build is log", fake + "\nc\n" + ok + "\n", []string{fake, "c"}, 4, ufop.BuildOK},
		{"blank lines after the result", "a\n" + ok + "\n\n", []string{"a", ""}, 4, ufop.BuildOK},
		{"later result wins", fake + "\n" + failed + "\n", []string{fake}, 4, ufop.BuildFailed},
		{"no result", "a\nb\n", []string{"a", "b"}, 0, ""},
		{"a result then more log", ok + "\nmore\n", []string{ok, "more"}, 0, ""},
		{"malformed result is log", protocol.BuildResultPrefix + "{\n", []string{protocol.BuildResultPrefix + "{"}, 0, ""},
		{"empty", "", nil, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, res, err := readBuildLog(tt.in)
			if !slices.Equal(lines, tt.lines) {
				t.Fatalf("lines %q, want %q", lines, tt.lines)
			}
			if tt.state == "" {
				if !errors.Is(err, errNoResult) {
					t.Fatalf("result %+v, %v; want none", res, err)
				}
				return
			}
			if err != nil || res.Version != tt.version || res.State != tt.state {
				t.Fatalf("result %+v, %v; want version %d %s", res, err, tt.version, tt.state)
			}
		})
	}
}

func readBuildLog(in string) ([]string, protocol.BuildResult, error) {
	b := &BuildLog{body: io.NopCloser(strings.NewReader(in)), r: bufio.NewReader(strings.NewReader(in))}
	var lines []string
	for {
		line, err := b.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return lines, protocol.BuildResult{}, err
		}
		lines = append(lines, line)
	}
	res, err := b.Result()
	return lines, res, err
}

// FuzzBuildLog feeds arbitrary answers to BuildLog: it must not fail or
// lose lines, and a result is only ever taken from the last line.
func FuzzBuildLog(f *testing.F) {
	f.Add("a\nb\n" + protocol.BuildResultPrefix + `{"version":1,"state":"ok"}` + "\n")
	f.Add(protocol.BuildResultPrefix + "{}\n" + protocol.BuildResultPrefix + "x\n\r\n")
	f.Add("\n\n\r")
	f.Fuzz(func(t *testing.T, in string) {
		lines, _, err := readBuildLog(in)
		if err != nil && !errors.Is(err, errNoResult) {
			t.Fatalf("error %v", err)
		}
		var want []string
		for _, l := range strings.SplitAfter(in, "\n") {
			if l != "" {
				want = append(want, strings.TrimRight(l, "\r\n"))
			}
		}
		if err == nil {
			// The result line is the last non-blank one and is not returned.
			last := len(want) - 1
			for last >= 0 && strings.TrimSpace(want[last]) == "" {
				last--
			}
			if _, ok := protocol.ParseBuildResult(want[last]); !ok {
				t.Fatalf("result taken from %q, not the last line", want[last])
			}
			want = slices.Delete(want, last, last+1)
		}
		if !slices.Equal(lines, want) {
			t.Fatalf("lines %q, want %q", lines, want)
		}
	})
}

// TestUFOPFailures checks the one-line errors and exit codes of the UFOP
// verbs that fail before or at the server.
func TestUFOPFailures(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		stderr   string
		requests int
	}{
		{[]string{"reg", "ab", "-m", "0"}, 2, `ufopctl: reg: UFOP name "ab": want 5 to 20 characters of a-z, 0-9, _ and - (usage: ufopctl reg <name> -m 0|1|2 [-d DESC])`, 0},
		{[]string{"reg", "sepia2"}, 2, "ufopctl: reg: -m is required: 0 public, 1 protected, 2 private (usage: ufopctl reg <name> -m 0|1|2 [-d DESC])", 0},
		{[]string{"reg", "sepia2", "-m", "3"}, 2, "ufopctl: reg: -m 3: want 0 (public), 1 (protected) or 2 (private) (usage: ufopctl reg <name> -m 0|1|2 [-d DESC])", 0},
		{[]string{"reg", "sepia", "-m", "0"}, 1, `ufopctl: reg sepia: 409 UFOP "sepia" exists (reqid req-1)`, 1},
		{[]string{"unreg", "sepia"}, 1, `ufopctl: unreg sepia: 409 UFOP "sepia" has instances (0 running, 2 desired): resize it to 0 first, or use --force (reqid req-1)`, 1},
		{[]string{"info", "nosuch"}, 1, `ufopctl: info nosuch: 404 no such UFOP "nosuch" (reqid req-1)`, 1},
		{[]string{"chver", "sepia"}, 2, "ufopctl: chver: -c is required: a version number from ufopctl version sepia (usage: ufopctl chver <name> -c N)", 0},
		{[]string{"resize", "sepia"}, 2, "ufopctl: resize: -n is required: the number of instances, 0 or more (usage: ufopctl resize <name> -n N [--wait] [--timeout D])", 0},
		{[]string{"resize", "sepia", "-n", "x"}, 2, `ufopctl: resize: invalid value "x" for flag -n: parse error (usage: ufopctl resize <name> -n N [--wait] [--timeout D])`, 0},
		{[]string{"resize", "sepia", "-n", "-1"}, 2, "ufopctl: resize: -n -1: want 0 or more instances (usage: ufopctl resize <name> -n N [--wait] [--timeout D])", 0},
		{[]string{"resize", "sepia", "-n", "1", "--wait", "--timeout", "0s"}, 2, "ufopctl: resize: --interval and --timeout must be positive durations like 2s or 10m (usage: ufopctl resize <name> -n N [--wait] [--timeout D])", 0},
		{[]string{"upgrade", "sepia", "--step", "0"}, 2, "ufopctl: upgrade: --step 0: want 1 to 100 (usage: ufopctl upgrade <name> [--step N] [--wait])", 0},
		{[]string{"scale", "sepia", "--threshold", "1"}, 2, "ufopctl: scale: --max is required (usage: ufopctl scale <name> --max N --threshold T [--min N] [--cooldown D] [--step N] [--idle D])", 0},
		{[]string{"scale", "sepia", "--max", "1", "--cooldown", "soon"}, 2, `ufopctl: scale: invalid value "soon" for flag -cooldown: parse error (usage: ufopctl scale <name> --max N --threshold T [--min N] [--cooldown D] [--step N] [--idle D])`, 0},
		{[]string{"grant", "sepia"}, 2, "ufopctl: grant: missing arguments (usage: ufopctl grant <name> <user>)", 0},
		{[]string{"logs", "nosuch", "-f"}, 1, `ufopctl: logs nosuch: 404 no such UFOP "nosuch" (reqid req-1)`, 1},
		{[]string{"state", "sepia", "extra"}, 2, `ufopctl: state: unexpected argument "extra" (usage: ufopctl state <name>)`, 0},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			h := newHarness(t)
			h.api.seedUFOP(sepia, sepiaVersions...)
			r := h.run(tt.args...)
			if r.code != tt.code || r.stderr != tt.stderr+"\n" || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q\nwant exit %d, stderr %q", r.code, r.stdout, r.stderr, tt.code, tt.stderr)
			}
			if n := h.api.count(); n != tt.requests {
				t.Fatalf("sent %d requests, want %d", n, tt.requests)
			}
		})
	}
}

// TestUpgradeWait follows an upgrade through successive states until every
// instance is healthy on the new version, and gives up at its timeout.
func TestUpgradeWait(t *testing.T) {
	u := sepia
	u.Version, u.Rollout = 3, 2
	inst := func(id string, v int, s ufop.InstanceState) ufop.Instance {
		return ufop.Instance{ID: id, UFOP: "sepia", Version: v, State: s, Agent: "node1"}
	}
	after := u
	after.Rollout = 3
	states := []UFOPState{
		{UFOP: after, Instances: []ufop.Instance{inst("a", 2, ufop.InstanceHealthy), inst("b", 2, ufop.InstanceHealthy)}},
		{UFOP: after, Instances: []ufop.Instance{inst("a", 2, ufop.InstanceHealthy), inst("b", 2, ufop.InstanceHealthy)}},
		{UFOP: after, Instances: []ufop.Instance{inst("a", 2, ufop.InstanceStopping), inst("b", 2, ufop.InstanceHealthy), inst("c", 3, ufop.InstanceStarting)}},
		{UFOP: after, Instances: []ufop.Instance{inst("b", 2, ufop.InstanceHealthy), inst("c", 3, ufop.InstanceHealthy)}},
		{UFOP: after, Instances: []ufop.Instance{inst("c", 3, ufop.InstanceHealthy), inst("d", 3, ufop.InstanceFailed)}},
		{UFOP: after, Instances: []ufop.Instance{inst("c", 3, ufop.InstanceHealthy), inst("d", 3, ufop.InstanceHealthy)}},
	}
	tests := []struct {
		name   string
		args   []string
		states []UFOPState
		code   int
		stdout string
		stderr string
	}{
		{"text", []string{"upgrade", "sepia", "--wait", "--interval", "1ms"}, states, 0,
			"sepia: upgrading to version 3, 1 at a time\n" +
				"sepia: 0/2 instances healthy on version 3, 2 on older versions\n" +
				"sepia: 0/2 instances healthy on version 3, 2 on older versions, 1 starting\n" +
				"sepia: 1/2 instances healthy on version 3, 1 on older versions\n" +
				"sepia: 1/2 instances healthy on version 3, 1 failed\n" +
				"sepia: 2/2 instances healthy on version 3\n", ""},
		{"json", []string{"upgrade", "sepia", "--wait", "--interval", "1ms", "-o", "json"}, states, 0, "", ""},
		{"timeout", []string{"upgrade", "sepia", "--wait", "--interval", "1ms", "--timeout", "50ms"}, states[:2], 1,
			"sepia: upgrading to version 3, 1 at a time\nsepia: 0/2 instances healthy on version 3, 2 on older versions\n",
			"ufopctl: upgrade sepia: not finished after 50ms: 0/2 instances healthy on version 3, 2 on older versions; it goes on, follow it with ufopctl state sepia\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.api.seedUFOP(u)
			h.api.withFakes(func(fu *fakeUFOPs) { fu.states = slices.Clone(tt.states) })
			r := h.run(tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if tt.name == "json" {
				st := decodeJSON[UFOPState](t, r.stdout)
				if len(st.Instances) != 2 || st.Instances[1].ID != "d" || !strings.HasSuffix(r.stderr, "sepia: 2/2 instances healthy on version 3\n") {
					t.Fatalf("state %+v, progress on stderr %q", st, r.stderr)
				}
				return
			}
			if r.stdout != tt.stdout || r.stderr != tt.stderr {
				t.Fatalf("stdout:\n%s\nstderr:\n%s\nwant:\n%s\n%s", r.stdout, r.stderr, tt.stdout, tt.stderr)
			}
		})
	}
}

// TestBuildInterrupted: Ctrl-C during the build log ends build with one
// line saying what to do, not a raw transport error.
func TestBuildInterrupted(t *testing.T) {
	h := newHarness(t)
	h.api.seedUFOP(sepia)
	gate := make(chan struct{})
	defer close(gate)
	h.api.withFakes(func(fu *fakeUFOPs) { fu.gate = gate })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"build", "sepia", "-f", packageDir(t, filepath.Join(h.dir, "pkg"), nil)}, Env{
			Stdout: &out, Stderr: &errOut,
			Getenv: func(k string) string { return map[string]string{"UFOP_CONFIG": h.cfgPath}[k] },
		})
	}()
	waitFor(t, &errOut, "building sepia version 1\n", done)
	cancel()
	code := <-done
	if last := errOut.String()[strings.LastIndex(strings.TrimSuffix(errOut.String(), "\n"), "\n")+1:]; code != 1 || out.String() != "" ||
		last != "ufopctl: build sepia: interrupted: check the outcome with ufopctl version sepia\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
}

// waitFor polls b until it ends with want, failing if Main returns first
// or nothing arrives within a generous deadline.
func waitFor(t *testing.T, b *syncBuffer, want string, done <-chan int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.HasSuffix(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("waited for %q, have %q", want, b.String())
		}
		select {
		case code := <-done:
			t.Fatalf("returned %d before %q arrived: %q", code, want, b.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// syncBuffer is a bytes.Buffer safe to read while Main writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestLogsFollow: logs -f prints output as it comes and ends cleanly when
// interrupted (ctx canceled, as Ctrl-C does in cmd/ufopctl).
func TestLogsFollow(t *testing.T) {
	h := newHarness(t)
	h.api.seedUFOP(sepia)
	h.api.withFakes(func(fu *fakeUFOPs) { fu.logs = "line 1\n" })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"logs", "sepia", "-f", "--instance", "sepia-a1"}, Env{
			Stdout: &out, Stderr: &errOut,
			Getenv: func(k string) string { return map[string]string{"UFOP_CONFIG": h.cfgPath}[k] },
		})
	}()
	waitFor(t, &out, "line 1\n", done)
	wantReq(t, h.api, "GET", "/v1/ufops/sepia/logs?follow=1&instance=sepia-a1", "")
	cancel()
	if code := <-done; code != 0 || errOut.String() != "" {
		t.Fatalf("after interrupt: exit %d, stderr %q", code, errOut.String())
	}
}

// The build log's lines and the requests' paths must survive names that
// need escaping; UFOP names cannot, but user names in grants may.
func TestGrantEscapesUser(t *testing.T) {
	h := newHarness(t)
	h.api.seedUFOP(sepia)
	if r := h.run("grant", "sepia", "a b/c"); r.code != 0 {
		t.Fatalf("exit %d, %q", r.code, r.stderr)
	}
	wantReq(t, h.api, "PUT", "/v1/ufops/sepia/grants/a%20b%2Fc", "")
	h.api.withFakes(func(fu *fakeUFOPs) {
		if g := fu.ufops["sepia"].Grants; !slices.Contains(g, "a b/c") {
			t.Fatalf("grants %q", g)
		}
	})
}

// BenchmarkOpenPackage measures what build -f DIR does before uploading:
// check the directory with the builder's rules, write the canonical tar to
// a temp file. Then Client.Build hashes that file once more.
func BenchmarkOpenPackage(b *testing.B) {
	dir := packageDir(b, b.TempDir(), nil)
	data := bytes.Repeat([]byte("0123456789abcdef"), 2<<20) // 32 MiB
	for i := range 4 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("data%d.bin", i)), data[:len(data)/4], 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		pkg, cleanup, err := openPackage(dir)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := hashSeeker(pkg); err != nil {
			b.Fatal(err)
		}
		cleanup()
	}
}
