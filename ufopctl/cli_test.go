package ufopctl

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/auth"
)

// result is one run of the CLI.
type result struct {
	code           int
	stdout, stderr string
}

// harness runs the CLI against a fake API with a config found through
// $UFOP_CONFIG.
type harness struct {
	t       *testing.T
	api     *fakeAPI
	dir     string // scratch directory for files
	cfgPath string
	stdin   string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, api: newFakeAPI(t), dir: t.TempDir()}
	h.cfgPath = filepath.Join(t.TempDir(), "config.json")
	if err := SaveConfig(h.cfgPath, h.api.config()); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) run(args ...string) result {
	h.t.Helper()
	var out, errOut bytes.Buffer
	env := Env{
		Stdin:  strings.NewReader(h.stdin),
		Stdout: &out,
		Stderr: &errOut,
		Getenv: func(k string) string {
			if k == "UFOP_CONFIG" {
				return h.cfgPath
			}
			return ""
		},
		UserConfigDir: filepath.Join(h.dir, "no-such-dir"),
	}
	code := Main(context.Background(), args, env)
	return result{code, out.String(), errOut.String()}
}

func (h *harness) file(name, content string) string {
	h.t.Helper()
	p := filepath.Join(h.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
	return p
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("stdout is not the expected JSON: %v\n%s", err, s)
	}
	return v
}

const seedTime = "2026-01-02T03:04:05Z"

// TestVerbs runs each verb once in text and JSON output, checking the
// request the server received and what was printed.
func TestVerbs(t *testing.T) {
	type check func(t *testing.T, h *harness, r result)
	tests := []struct {
		name   string
		setup  func(h *harness) []string // returns the args
		method string                    // "" means no request expected
		uri    string
		body   string
		stdout string // exact, unless check is set
		check  check
	}{
		{
			name: "bucket create, flags after and around arguments",
			setup: func(h *harness) []string {
				return []string{"bucket", "create", "--private", "pics", "--referer", "a.test", "--referer", "*.b.test"}
			},
			method: "PUT", uri: "/v1/buckets/pics", body: `{"private":true,"referers":["a.test","*.b.test"],"allowEmptyReferer":false}`,
			stdout: "created private bucket pics\n",
		},
		{
			name: "bucket create json",
			setup: func(h *harness) []string {
				return []string{"-o", "json", "bucket", "create", "pub", "--mirror", "http://origin.test", "--allow-empty-referer"}
			},
			method: "PUT", uri: "/v1/buckets/pub", body: `{"private":false,"allowEmptyReferer":true,"mirror":"http://origin.test"}`,
			check: func(t *testing.T, h *harness, r result) {
				b := decodeJSON[ufop.Bucket](t, r.stdout)
				if b.Name != "pub" || b.Private || b.Mirror != "http://origin.test" || !b.AllowEmptyReferer || b.Owner != "admin" {
					t.Fatalf("bucket %+v", b)
				}
			},
		},
		{
			name: "bucket ls",
			setup: func(h *harness) []string {
				h.api.seed(t, "pics", true, nil)
				h.api.seed(t, "pub", false, nil)
				return []string{"bucket", "ls"}
			},
			method: "GET", uri: "/v1/buckets",
			stdout: "NAME  ACCESS   OWNER  CREATED\n" +
				"pics  private  admin  " + seedTime + "\n" +
				"pub   public   admin  " + seedTime + "\n",
		},
		{
			name: "bucket ls json",
			setup: func(h *harness) []string {
				h.api.seed(t, "pics", true, nil)
				return []string{"bucket", "ls", "-o", "json"}
			},
			method: "GET", uri: "/v1/buckets",
			check: func(t *testing.T, h *harness, r result) {
				out := decodeJSON[struct{ Buckets []ufop.Bucket }](t, r.stdout)
				if len(out.Buckets) != 1 || out.Buckets[0].Name != "pics" || !out.Buckets[0].Private {
					t.Fatalf("buckets %+v", out.Buckets)
				}
			},
		},
		{
			name: "bucket ls json, no buckets, prints an empty list",
			setup: func(h *harness) []string {
				return []string{"bucket", "ls", "-o", "json"}
			},
			method: "GET", uri: "/v1/buckets",
			stdout: "{\n  \"buckets\": []\n}\n",
		},
		{
			name: "bucket ls of a bucket lists objects",
			setup: func(h *harness) []string {
				h.api.seed(t, "pics", false, map[string]string{"a/1": "x", "a/2": "yy", "b": "z"})
				return []string{"bucket", "ls", "pics", "--prefix", "a/"}
			},
			method: "GET", uri: "/v1/buckets/pics/objects?prefix=a%2F",
			check: func(t *testing.T, h *harness, r result) {
				lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
				if len(lines) != 3 || !strings.HasPrefix(lines[0], "SIZE") ||
					!strings.HasPrefix(lines[1], "1 ") || !strings.HasSuffix(lines[1], "text/plain; charset=utf-8  a/1") ||
					!strings.HasPrefix(lines[2], "2 ") || !strings.HasSuffix(lines[2], "a/2") {
					t.Fatalf("listing:\n%s", r.stdout)
				}
			},
		},
		{
			name: "ls follows pages",
			setup: func(h *harness) []string {
				h.api.seed(t, "pics", false, map[string]string{"k1": "1", "k2": "2", "k3": "3", "k4": "4", "k5": "5"})
				h.api.pageSize = 2
				return []string{"ls", "pics", "-o", "json"}
			},
			method: "GET", uri: "/v1/buckets/pics/objects?marker=k4",
			check: func(t *testing.T, h *harness, r result) {
				out := decodeJSON[struct {
					Objects []ufop.Object
					Next    string
				}](t, r.stdout)
				var keys []string
				for _, o := range out.Objects {
					keys = append(keys, o.Key)
				}
				if fmt.Sprint(keys) != "[k1 k2 k3 k4 k5]" || out.Next != "" {
					t.Fatalf("keys %v next %q", keys, out.Next)
				}
				if n := h.api.count(); n != 3 {
					t.Fatalf("%d requests, want 3 pages", n)
				}
			},
		},
		{
			name: "ls one page with --limit",
			setup: func(h *harness) []string {
				h.api.seed(t, "pics", false, map[string]string{"k1": "1", "k2": "2", "k3": "3"})
				return []string{"ls", "--limit", "2", "pics"}
			},
			method: "GET", uri: "/v1/buckets/pics/objects?limit=2",
			check: func(t *testing.T, h *harness, r result) {
				if n := strings.Count(r.stdout, "\n"); n != 3 {
					t.Fatalf("%d lines, want header and 2 objects:\n%s", n, r.stdout)
				}
				if r.stderr != "more objects: continue with --marker \"k2\"\n" {
					t.Fatalf("stderr %q", r.stderr)
				}
			},
		},
		{
			name: "put with escaped key and progress",
			setup: func(h *harness) []string {
				h.api.seed(t, "pics", false, nil)
				return []string{"put", "pics", "a b/ü.jpg", h.file("local.jpg", "jpeg bytes")}
			},
			method: "PUT", uri: "/v1/objects/pics/a%20b/%C3%BC.jpg", body: "jpeg bytes",
			stdout: "pics/a b/ü.jpg\t10 bytes\timage/jpeg\t" + sum([]byte("jpeg bytes")) + "\n",
			check: func(t *testing.T, h *harness, r result) {
				if !strings.HasPrefix(r.stderr, "upload pics/a b/ü.jpg: 100% (10 B in ") || strings.Count(r.stderr, "\n") != 1 {
					t.Fatalf("stderr %q, want one final progress line", r.stderr)
				}
			},
		},
		{
			name: "put from stdin, json",
			setup: func(h *harness) []string {
				h.api.seed(t, "pics", false, nil)
				h.stdin = "from stdin"
				return []string{"bucket", "put", "pics", "in.txt", "-", "-o", "json", "--content-type", "text/x-test"}
			},
			method: "PUT", uri: "/v1/objects/pics/in.txt", body: "from stdin",
			check: func(t *testing.T, h *harness, r result) {
				o := decodeJSON[ufop.Object](t, r.stdout)
				if o.Key != "in.txt" || o.Size != 10 || o.ETag != sum([]byte("from stdin")) || o.ContentType != "text/x-test" {
					t.Fatalf("object %+v", o)
				}
			},
		},
		{
			name: "get to a file",
			setup: func(h *harness) []string {
				h.api.seed(t, "pics", false, map[string]string{"dir/a.txt": "hello"})
				return []string{"get", "pics", "dir/a.txt", filepath.Join(h.dir, "out.txt")}
			},
			method: "GET", uri: "/v1/objects/pics/dir/a.txt",
			check: func(t *testing.T, h *harness, r result) {
				if want := fmt.Sprintf("saved pics/dir/a.txt to %s (5 B)\n", filepath.Join(h.dir, "out.txt")); r.stdout != want {
					t.Fatalf("stdout %q, want %q", r.stdout, want)
				}
				if b, err := os.ReadFile(filepath.Join(h.dir, "out.txt")); err != nil || string(b) != "hello" {
					t.Fatalf("file %q, %v", b, err)
				}
			},
		},
		{
			name: "get to stdout",
			setup: func(h *harness) []string {
				h.api.seed(t, "pics", false, map[string]string{"ü x": "bytes"})
				return []string{"bucket", "get", "pics", "ü x", "-"}
			},
			method: "GET", uri: "/v1/objects/pics/%C3%BC%20x",
			stdout: "bytes",
		},
		{
			name: "get into a directory, json",
			setup: func(h *harness) []string {
				h.api.seed(t, "pics", false, map[string]string{"d/x y.txt": "data"})
				return []string{"-o", "json", "get", "pics", "d/x y.txt", h.dir}
			},
			method: "GET", uri: "/v1/objects/pics/d/x%20y.txt",
			check: func(t *testing.T, h *harness, r result) {
				o := decodeJSON[ufop.Object](t, r.stdout)
				if o.Key != "d/x y.txt" || o.Size != 4 || o.ETag != sum([]byte("data")) {
					t.Fatalf("object %+v", o)
				}
				if b, err := os.ReadFile(filepath.Join(h.dir, "x y.txt")); err != nil || string(b) != "data" {
					t.Fatalf("file %q, %v", b, err)
				}
			},
		},
		{
			name: "rm",
			setup: func(h *harness) []string {
				h.api.seed(t, "pics", false, map[string]string{"a.txt": "x"})
				return []string{"rm", "pics", "a.txt"}
			},
			method: "DELETE", uri: "/v1/objects/pics/a.txt",
			stdout: "deleted pics/a.txt\n",
		},
		{
			name: "bucket rm of an object",
			setup: func(h *harness) []string {
				h.api.seed(t, "pics", false, map[string]string{"a b.jpg": "x"})
				return []string{"bucket", "rm", "pics", "a b.jpg"}
			},
			method: "DELETE", uri: "/v1/objects/pics/a%20b.jpg",
			stdout: "deleted pics/a b.jpg\n",
		},
		{
			name: "bucket rm",
			setup: func(h *harness) []string {
				h.api.seed(t, "empty", false, nil)
				return []string{"bucket", "rm", "empty"}
			},
			method: "DELETE", uri: "/v1/buckets/empty",
			stdout: "deleted bucket empty\n",
		},
		{
			name:   "user add",
			setup:  func(h *harness) []string { return []string{"user", "add", "alice", "--tier", "paid", "--admin"} },
			method: "POST", uri: "/v1/users", body: `{"name":"alice","tier":"paid","admin":true}`,
			stdout: "user   alice\ntier   paid\nadmin  yes\nak     AKalice\nsk     SKalice-secret\n",
			check: func(t *testing.T, h *harness, r result) {
				if r.stderr != "The secret key is shown only once: store it now.\n" {
					t.Fatalf("stderr %q", r.stderr)
				}
			},
		},
		{
			name:   "user add json",
			setup:  func(h *harness) []string { return []string{"user", "add", "-o", "json", "bob"} },
			method: "POST", uri: "/v1/users", body: `{"name":"bob","tier":"free","admin":false}`,
			check: func(t *testing.T, h *harness, r result) {
				u := decodeJSON[NewUser](t, r.stdout)
				if u != (NewUser{Name: "bob", AK: "AKbob", SK: "SKbob-secret", Tier: ufop.TierFree}) {
					t.Fatalf("user %+v", u)
				}
			},
		},
		{
			name:   "user ls",
			setup:  func(h *harness) []string { return []string{"user", "ls"} },
			method: "GET", uri: "/v1/users",
			stdout: "NAME   TIER  ADMIN  KEYS     CREATED\nadmin  paid  yes    AKadmin  " + seedTime + "\n",
		},
		{
			name:   "user ls json",
			setup:  func(h *harness) []string { return []string{"user", "ls", "-o", "json"} },
			method: "GET", uri: "/v1/users",
			check: func(t *testing.T, h *harness, r result) {
				out := decodeJSON[struct{ Users []ufop.User }](t, r.stdout)
				if len(out.Users) != 1 || out.Users[0].Name != "admin" || !out.Users[0].Admin {
					t.Fatalf("users %+v", out.Users)
				}
			},
		},
		{
			name: "user rm",
			setup: func(h *harness) []string {
				h.api.users["carol"] = &ufop.User{Name: "carol"}
				return []string{"user", "rm", "carol"}
			},
			method: "DELETE", uri: "/v1/users/carol",
			stdout: "removed user carol\n",
		},
		{
			name:   "whoami",
			setup:  func(h *harness) []string { return []string{"whoami"} },
			method: "GET", uri: "/v1/whoami",
			stdout: "user     admin\ntier     paid\nadmin    yes\nkeys     AKadmin\ncreated  " + seedTime + "\n",
		},
		{
			name:   "whoami json",
			setup:  func(h *harness) []string { return []string{"whoami", "-o", "json"} },
			method: "GET", uri: "/v1/whoami",
			check: func(t *testing.T, h *harness, r result) {
				u := decodeJSON[ufop.User](t, r.stdout)
				if u.Name != "admin" || u.Tier != ufop.TierPaid || !u.Admin || len(u.Keys) != 1 {
					t.Fatalf("user %+v", u)
				}
			},
		},
		{
			name: "sign a bucket/key relative to the endpoint",
			setup: func(h *harness) []string {
				return []string{"sign", "pics/a b.jpg?imageView2/1/w/200", "--expires", "2h"}
			},
			check: func(t *testing.T, h *harness, r result) {
				u := strings.TrimSuffix(r.stdout, "\n")
				prefix := h.api.srv.URL + "/pics/a%20b.jpg?imageView2/1/w/200&e="
				if !strings.HasPrefix(u, prefix) || strings.Count(r.stdout, "\n") != 1 {
					t.Fatalf("signed URL %q, want prefix %q", u, prefix)
				}
				verifySigned(t, u, time.Now().Add(2*time.Hour))
			},
		},
		{
			name:  "sign json",
			setup: func(h *harness) []string { return []string{"-o", "json", "sign", "https://cdn.test/pics/k.jpg"} },
			check: func(t *testing.T, h *harness, r result) {
				out := decodeJSON[struct {
					URL     string
					Expires time.Time
				}](t, r.stdout)
				if d := time.Until(out.Expires); d < 59*time.Minute || d > time.Hour {
					t.Fatalf("expires %v, want in about 1h", out.Expires)
				}
				verifySigned(t, out.URL, out.Expires)
			},
		},
		{
			name:  "help",
			setup: func(h *harness) []string { return []string{"help"} },
			check: func(t *testing.T, h *harness, r result) {
				for _, cmd := range commands() {
					if !strings.Contains(r.stdout, "  "+cmd.name+" ") {
						t.Fatalf("help does not list %q:\n%s", cmd.name, r.stdout)
					}
				}
			},
		},
		{
			name:  "help of a verb",
			setup: func(h *harness) []string { return []string{"help", "bucket", "create"} },
			check: func(t *testing.T, h *harness, r result) {
				if !strings.HasPrefix(r.stdout, "usage: ufopctl bucket create <bucket>") || !strings.Contains(r.stdout, "-mirror URL") {
					t.Fatalf("help:\n%s", r.stdout)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			args := tt.setup(h)
			before := h.api.count()
			r := h.run(args...)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if tt.method == "" {
				if h.api.count() != before {
					t.Fatalf("sent %d requests, want none", h.api.count()-before)
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

func verifySigned(t *testing.T, u string, expires time.Time) {
	t.Helper()
	secretOf := func(ak string) (string, error) {
		if ak != adminAK {
			return "", ufop.Errorf(ufop.KindNotFound, "no such key")
		}
		return adminSK, nil
	}
	if _, err := auth.VerifyURL(u, secretOf, time.Now()); err != nil {
		t.Fatalf("VerifyURL(%s): %v", u, err)
	}
	if _, err := auth.VerifyURL(u, secretOf, expires.Add(2*time.Second)); ufop.Message(err) != "token expired" {
		t.Fatalf("VerifyURL after expiry: %v, want token expired", err)
	}
}

// TestFailures checks that every failure prints exactly one line and
// exits 1 (operation failed) or 2 (usage).
func TestFailures(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name   string
		setup  func(h *harness)
		args   []string
		code   int
		stderr string // exact line, with %s replaced by the harness's scratch dir when present
		prefix bool   // stderr only has to start with it
	}{
		{"api 404", nil, []string{"put", "pics", "a.jpg", "FILE"}, 1,
			`ufopctl: put pics/a.jpg: 404 no such bucket "pics" (reqid req-1)`, false},
		{"api 409", func(h *harness) { h.api.seed(t, "pics", false, nil) }, []string{"bucket", "create", "pics"}, 1,
			`ufopctl: bucket create pics: 409 bucket "pics" exists (reqid req-1)`, false},
		{"get missing key", func(h *harness) { h.api.seed(t, "pics", false, nil) }, []string{"get", "pics", "nope.txt", "OUT"}, 1,
			`ufopctl: get pics/nope.txt: 404 no such key "nope.txt" in bucket "pics" (reqid req-1)`, false},
		{"bad secret", func(h *harness) {
			SaveConfig(h.cfgPath, Config{Endpoint: h.api.srv.URL, AK: adminAK, SK: "wrong"})
		}, []string{"whoami"}, 1,
			`ufopctl: whoami: 401 signature does not match for access key "AKadmin": check the secret key (reqid req-1)`, false},
		{"unreachable", func(h *harness) {
			SaveConfig(h.cfgPath, Config{Endpoint: closed.URL, AK: "a", SK: "b"})
		}, []string{"user", "ls"}, 1, "ufopctl: user ls: cannot reach " + closed.URL + ": ", true},
		{"no config", func(h *harness) { os.Remove(h.cfgPath) }, []string{"bucket", "ls"}, 1,
			"ufopctl: bucket ls: no config at CFG: run ufopctl login --ak AK --sk SK --endpoint URL first", false},
		{"missing file", func(h *harness) { h.api.seed(t, "pics", false, nil) }, []string{"put", "pics", "k", "/nonexistent/f"}, 1,
			"ufopctl: put pics/k: open /nonexistent/f: no such file or directory", false},
		{"missing args", nil, []string{"put", "pics"}, 2,
			"ufopctl: put: missing arguments (usage: ufopctl put <bucket> <key> <file|-> [--content-type T])", false},
		{"extra args", nil, []string{"rm", "a", "b", "c"}, 2,
			`ufopctl: rm: unexpected argument "c" (usage: ufopctl rm <bucket> <key>)`, false},
		{"unknown flag", nil, []string{"bucket", "ls", "--bogus"}, 2,
			"ufopctl: bucket ls: flag provided but not defined: -bogus (usage: ufopctl bucket ls [<bucket> [--prefix P] [--marker M] [--limit N]])", false},
		{"bad output", nil, []string{"whoami", "-o", "yaml"}, 2,
			`ufopctl: whoami: -o "yaml": want text or json (usage: ufopctl whoami)`, false},
		{"bad tier", nil, []string{"user", "add", "x", "--tier", "gold"}, 2,
			`ufopctl: user add: --tier "gold": want free or paid (usage: ufopctl user add <name> [--tier free|paid] [--admin])`, false},
		{"unknown command", nil, []string{"frobnicate"}, 2, `ufopctl: unknown command "frobnicate" (run ufopctl help)`, false},
		{"group without verb", nil, []string{"user"}, 2, "ufopctl: user: want one of add, ls, rm, key add, key rm (run ufopctl help)", false},
		{"bad global flag", nil, []string{"--nope", "whoami"}, 2, "ufopctl: flag provided but not defined: -nope (run ufopctl help)", false},
		{"sign bad url", nil, []string{"sign", "ftp://x/y"}, 1, `ufopctl: sign: URL "ftp://x/y" must be absolute, like http://host/bucket/key`, false},
		{"sign bad expiry", nil, []string{"sign", "b/k", "--expires", "-1h"}, 2,
			"ufopctl: sign: --expires -1h0m0s: want a positive duration like 1h or 30m (usage: ufopctl sign <url|bucket/key[?fop]> [--expires 1h])", false},
		{"get key without a name", nil, []string{"get", "pics", "dir/"}, 2,
			`ufopctl: get: key "dir/" has no file name: give one, or - for stdout (usage: ufopctl get <bucket> <key> [file|-])`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if tt.setup != nil {
				tt.setup(h)
			}
			args := append([]string(nil), tt.args...)
			for i, a := range args {
				switch a {
				case "FILE":
					args[i] = h.file("f", "content")
				case "OUT":
					args[i] = filepath.Join(h.dir, "out")
				}
			}
			r := h.run(args...)
			want := strings.ReplaceAll(tt.stderr, "CFG", h.cfgPath) + "\n"
			if tt.prefix {
				want = strings.TrimSuffix(want, "\n")
			}
			if r.code != tt.code || strings.Count(r.stderr, "\n") != 1 ||
				(tt.prefix && !strings.HasPrefix(r.stderr, want)) || (!tt.prefix && r.stderr != want) {
				t.Fatalf("exit %d, stderr %q\nwant exit %d, stderr %q", r.code, r.stderr, tt.code, want)
			}
			if r.stdout != "" {
				t.Fatalf("a failure printed on stdout: %q", r.stdout)
			}
			if _, err := os.Stat(filepath.Join(h.dir, "out")); err == nil {
				t.Fatal("a failed get created its output file")
			}
		})
	}
}

func TestLoginAndConfigLookup(t *testing.T) {
	dir := t.TempDir()
	userDir := filepath.Join(dir, "user")
	envCfg := filepath.Join(dir, "env.json")
	flagCfg := filepath.Join(dir, "flag.json")
	run := func(getenv map[string]string, args ...string) result {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), args, Env{Stdout: &out, Stderr: &errOut,
			Getenv: func(k string) string { return getenv[k] }, UserConfigDir: userDir})
		return result{code, out.String(), errOut.String()}
	}
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		path   string
		want   Config
		stdout string
	}{
		{"user config dir", nil, []string{"login", "--ak", "A1", "--sk", "S1", "--endpoint", "http://127.0.0.1:9000/"},
			filepath.Join(userDir, "ufop", "config.json"), Config{Endpoint: "http://127.0.0.1:9000", AK: "A1", SK: "S1"},
			"saved credentials for A1 (http://127.0.0.1:9000) to " + filepath.Join(userDir, "ufop", "config.json") + "\n"},
		{"env", map[string]string{"UFOP_CONFIG": envCfg}, []string{"login", "--ak", "A2", "--sk", "S2", "--endpoint", "http://h:1", "--admin-endpoint", "http://h:2"},
			envCfg, Config{Endpoint: "http://h:1", AdminEndpoint: "http://h:2", AK: "A2", SK: "S2"}, ""},
		{"flag beats env", map[string]string{"UFOP_CONFIG": envCfg}, []string{"--config", flagCfg, "login", "--ak", "A3", "--sk", "S3", "--endpoint", "http://h:3"},
			flagCfg, Config{Endpoint: "http://h:3", AK: "A3", SK: "S3"}, ""},
		{"login updates one field", nil, []string{"login", "--endpoint", "http://other:9"},
			filepath.Join(userDir, "ufop", "config.json"), Config{Endpoint: "http://other:9", AK: "A1", SK: "S1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(tt.env, tt.args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if tt.stdout != "" && r.stdout != tt.stdout {
				t.Fatalf("stdout %q, want %q", r.stdout, tt.stdout)
			}
			got, err := LoadConfig(tt.path)
			if err != nil || got != tt.want {
				t.Fatalf("config at %s = %+v, %v; want %+v", tt.path, got, err, tt.want)
			}
			fi, err := os.Stat(tt.path)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("config mode %v, %v; want 0600", fi.Mode(), err)
			}
		})
	}
	// A config missing keys is a usage error of login.
	r := run(map[string]string{"UFOP_CONFIG": filepath.Join(dir, "new.json")}, "login", "--endpoint", "http://h:1")
	if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "both an access key (ak) and a secret key (sk) are required") {
		t.Fatalf("login without keys: exit %d, %q", r.code, r.stderr)
	}
	// No config dir at all.
	var errOut bytes.Buffer
	code := Main(context.Background(), []string{"whoami"}, Env{Stdout: &bytes.Buffer{}, Stderr: &errOut})
	if code != 1 || errOut.String() != "ufopctl: whoami: no user config directory: pass --config FILE or set UFOP_CONFIG\n" {
		t.Fatalf("no config dir: exit %d, %q", code, errOut.String())
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"ok", Config{Endpoint: "http://127.0.0.1:9000", AK: "a", SK: "b"}, true},
		{"https admin", Config{Endpoint: "https://h", AdminEndpoint: "http://h:9001", AK: "a", SK: "b"}, true},
		{"no endpoint", Config{AK: "a", SK: "b"}, false},
		{"relative", Config{Endpoint: "127.0.0.1:9000", AK: "a", SK: "b"}, false},
		{"query", Config{Endpoint: "http://h/?x", AK: "a", SK: "b"}, false},
		{"bad admin", Config{Endpoint: "http://h", AdminEndpoint: "h:1", AK: "a", SK: "b"}, false},
		{"no sk", Config{Endpoint: "http://h", AK: "a"}, false},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args    []string
		pos     string
		m, d    string
		verbose bool
	}{
		{[]string{"name", "-m", "0", "-d", "desc"}, "[name]", "0", "desc", false},
		{[]string{"-m", "1", "name", "-d", "x y"}, "[name]", "1", "x y", false},
		{[]string{"a", "-v", "b", "--m=2", "c"}, "[a b c]", "2", "", true},
		{[]string{"a", "--", "-m", "b"}, "[a -m b]", "", "", false},
		{[]string{"-", "-d", "z"}, "[-]", "", "z", false},
		{nil, "[]", "", "", false},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		m := fs.String("m", "", "")
		d := fs.String("d", "", "")
		v := fs.Bool("v", false, "")
		pos, err := parseArgs(fs, tt.args)
		if err != nil || fmt.Sprint(pos) != tt.pos || *m != tt.m || *d != tt.d || *v != tt.verbose {
			t.Errorf("parseArgs(%q) = %q m=%q d=%q v=%v, %v; want %s m=%q d=%q v=%v", tt.args, pos, *m, *d, *v, err, tt.pos, tt.m, tt.d, tt.verbose)
		}
	}
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {200 << 20, "200.0 MiB"}, {3 << 30, "3.0 GiB"}}
	for _, tt := range tests {
		if got := formatSize(tt.n); got != tt.want {
			t.Errorf("formatSize(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// On a terminal the upload progress is one line redrawn with \r and ended
// once; elsewhere only the final line is printed.
func TestProgressLine(t *testing.T) {
	for _, tty := range []bool{true, false} {
		var buf bytes.Buffer
		p := &progress{w: &buf, tty: tty, label: "upload b/k", start: time.Now()}
		p.update(0, 2048)
		p.update(1024, 2048)
		p.update(2048, 2048)
		p.finish()
		out := buf.String()
		if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") || !strings.Contains(out, "upload b/k: 100% (2.0 KiB in ") {
			t.Fatalf("tty=%v: output %q", tty, out)
		}
		if tty != strings.Contains(out, "\r") || tty != strings.Contains(out, "  0% (0 B / 2.0 KiB)") {
			t.Fatalf("tty=%v: output %q, want in-place updates only on a terminal", tty, out)
		}
	}
}

// Without a file name, get saves to the key's base name in the working
// directory, and a failed get leaves no file there.
func TestGetDefaultFileName(t *testing.T) {
	h := newHarness(t)
	h.api.seed(t, "pics", false, map[string]string{"dir/photo 1.jpg": "jpeg"})
	t.Chdir(h.dir)
	r := h.run("get", "pics", "dir/photo 1.jpg")
	if r.code != 0 || r.stdout != "saved pics/dir/photo 1.jpg to photo 1.jpg (4 B)\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(h.dir, "photo 1.jpg")); err != nil || string(b) != "jpeg" {
		t.Fatalf("saved file %q, %v", b, err)
	}
	if r := h.run("get", "pics", "dir/missing.jpg"); r.code != 1 {
		t.Fatalf("get of a missing key: exit %d", r.code)
	}
	entries, _ := os.ReadDir(h.dir)
	for _, e := range entries {
		if e.Name() != "photo 1.jpg" {
			t.Fatalf("get left %q behind", e.Name())
		}
	}
}
