package platform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/platform"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/ufopctl"
)

// ufopctlTry runs ufopctl and returns its exit code, stdout and stderr.
func ufopctlTry(conf string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := ufopctl.Main(context.Background(), append([]string{"--config", conf}, args...), ufopctl.Env{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" },
	})
	return code, out.String(), errb.String()
}

func migrateStatus(t *testing.T, conf, name string) protocol.MigrateStatus {
	t.Helper()
	var st protocol.MigrateStatus
	if err := json.Unmarshal([]byte(ufopctlRun(t, conf, "migrate", "status", name, "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestMigrateCLI drives migrations through ufopctl against a one-process
// platform: a file:// job to done, verify, a second start that skips
// everything, an http(s) job with a key list and its failures, and the
// bad inputs of SPEC §11 with their errors.
func TestMigrateCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the platform")
	}
	cfg := platform.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Gateway.Addr = "127.0.0.1:0"
	cfg.EtcdClientAddr, cfg.EtcdPeerAddr, cfg.NATSPort = testenv.FreeAddr(t), testenv.FreeAddr(t), -1
	// Origins below are on 127.0.0.1, which the operator allows; 127.0.0.2
	// stays refused.
	cfg.Gateway.FetchAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	cfg.Agent.Migrate.MaxObjectBytes = 4 << 10
	cfg.Agent.Migrate.Poll = 100 * time.Millisecond
	p, _ := runPlatform(t, cfg)
	conf := p.AdminConfig()
	a := newAPI(t, p)
	ufopctlRun(t, conf, "bucket", "create", "dst")

	src := t.TempDir()
	for i, k := range []string{"a.txt", "d/b.txt", "d/e/c.txt"} {
		os.MkdirAll(filepath.Dir(filepath.Join(src, k)), 0o755)
		os.WriteFile(filepath.Join(src, k), bytes.Repeat([]byte{'a' + byte(i)}, 500*(i+1)), 0o644)
	}
	ufopctlRun(t, conf, "migrate", "start", "files", "--from", "file://"+src, "--to", "dst", "--workers", "2")
	out := ufopctlRun(t, conf, "migrate", "status", "files", "--watch", "--interval", "100ms", "-o", "json")
	var st protocol.MigrateStatus
	json.Unmarshal([]byte(out), &st)
	if st.State != protocol.MigrateDone || st.Listed != 3 || st.Copied != 3 || st.Bytes != 3000 {
		t.Fatalf("files: %s", out)
	}
	var v protocol.MigrateVerify
	json.Unmarshal([]byte(ufopctlRun(t, conf, "migrate", "verify", "files", "-o", "json")), &v)
	if len(v.Missing)+len(v.Different) != 0 || v.Checked != 3 {
		t.Fatalf("verify: %+v", v)
	}
	// Start again: everything is there already.
	ufopctlRun(t, conf, "migrate", "start", "files", "--from", "file://"+src, "--to", "dst")
	testenv.Eventually(t, 30*time.Second, func() bool { return migrateStatus(t, conf, "files").State == protocol.MigrateDone }, "second run done")
	if st := migrateStatus(t, conf, "files"); st.Skipped != 3 || st.Copied != 0 {
		t.Fatalf("second run: %+v", st)
	}
	// The progress bar, in text mode.
	code, _, stderr := ufopctlTry(conf, "migrate", "status", "files", "--watch")
	if code != 0 || !strings.Contains(stderr, "objects/s") || !strings.Contains(stderr, "MB/s") || !strings.Contains(stderr, "[####") {
		t.Fatalf("status --watch: %d %q", code, stderr)
	}

	// An http(s) origin with a key list: one key over the object limit,
	// one missing, one redirected to a refused address, one not a valid
	// ufop key.
	refused := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "internal") }))
	defer refused.Close()
	_, rport, _ := strings.Cut(strings.TrimPrefix(refused.URL, "http://"), ":")
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch k := strings.TrimPrefix(r.URL.Path, "/o/"); k {
		case "big.jpg":
			w.Write(make([]byte, 5<<10))
		case "gone.jpg":
			http.NotFound(w, r)
		case "hop.jpg", "first-hop.jpg":
			http.Redirect(w, r, "http://127.0.0.2:"+rport+"/", http.StatusFound)
		default:
			io.WriteString(w, "content of "+k)
		}
	}))
	defer origin.Close()
	list := filepath.Join(t.TempDir(), "keys.txt")
	os.WriteFile(list, []byte("one.jpg\r\nsub/two.jpg\n\nbig.jpg\ngone.jpg\nhop.jpg\nx/../y.jpg\n"), 0o644)
	ufopctlRun(t, conf, "migrate", "start", "web", "--from", origin.URL+"/o", "--to", "dst", "--list", list)
	testenv.Eventually(t, 30*time.Second, func() bool { return migrateStatus(t, conf, "web").State == protocol.MigrateDone }, "web done")
	st = migrateStatus(t, conf, "web")
	if st.Listed != 6 || st.Copied != 2 || st.Failed != 4 {
		t.Fatalf("web: %+v", st)
	}
	reasons := map[string]string{}
	for _, f := range st.Failures {
		reasons[f.Key] = f.Reason
	}
	for key, part := range map[string]string{"big.jpg": "over the object limit", "gone.jpg": "404", "hop.jpg": "127.0.0.2", "x/../y.jpg": "not a valid ufop key"} {
		if !strings.Contains(reasons[key], part) {
			t.Errorf("failure of %s = %q, want %q", key, reasons[key], part)
		}
	}
	for _, k := range []string{"big.jpg", "gone.jpg", "hop.jpg"} {
		if _, err := a.cl.StatObject(context.Background(), "dst", k); ufop.KindOf(err) == 0 && err == nil {
			t.Errorf("%s stored after its failure", k)
		}
	}
	body, _, err := a.cl.GetObject(context.Background(), "dst", "sub/two.jpg")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(body)
	body.Close()
	if string(b) != "content of sub/two.jpg" {
		t.Fatalf("sub/two.jpg = %q", b)
	}
	json.Unmarshal([]byte(ufopctlRun(t, conf, "migrate", "verify", "web", "-o", "json")), &v)
	if strings.Join(v.Missing, ",") != "big.jpg,hop.jpg,x/../y.jpg" || len(v.Different) != 0 {
		t.Fatalf("verify web: %+v", v)
	}

	// Bad input: each refused at start with a message naming the culprit,
	// and no job left behind.
	os.WriteFile(list, []byte("first-hop.jpg\n"), 0o644)
	closed := "http://" + testenv.FreeAddr(t) + "/o"
	alice := a.addUser("alice")
	tests := []struct {
		name string
		conf string
		args []string
		want string
	}{
		{"scheme", conf, []string{"--from", "ftp://h/x", "--to", "dst"}, `unknown scheme "ftp"`},
		{"nolist", conf, []string{"--from", origin.URL + "/o", "--to", "dst"}, "needs a key list"},
		{"unreach", conf, []string{"--from", closed, "--to", "dst", "--list", list}, "unreachable"},
		{"redirect", conf, []string{"--from", origin.URL + "/o", "--to", "dst", "--list", list}, "127.0.0.2"},
		{"literal", conf, []string{"--from", "http://127.0.0.3/o", "--to", "dst", "--list", list}, "127.0.0.3 is not public"},
		{"nodir", conf, []string{"--from", "file:///nonexistent-dir", "--to", "dst"}, "nonexistent-dir"},
		{"nobucket", conf, []string{"--from", "file://" + src, "--to", "nope"}, `"nope"`},
		{"notadmin", alice, []string{"--from", "file://" + src, "--to", "dst"}, "only admins"},
		{"bad.name", conf, []string{"--from", "file://" + src, "--to", "dst"}, "use only"},
		{"s3", conf, []string{"--from", "s3://b?endpoint=http://" + testenv.FreeAddr(t), "--to", "dst"}, "s3"},
	}
	for _, tt := range tests {
		code, _, stderr := ufopctlTry(tt.conf, append([]string{"migrate", "start", tt.name}, tt.args...)...)
		if code == 0 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%s: exit %d, %q; want an error containing %q", tt.name, code, stderr, tt.want)
		}
		if code, _, _ := ufopctlTry(conf, "migrate", "status", tt.name); code == 0 {
			t.Errorf("%s: a job was recorded", tt.name)
		}
	}
	// An oversized list line names its line; nothing is stored.
	os.WriteFile(list, []byte("ok\n"+strings.Repeat("k", 5000)+"\n"), 0o644)
	if code, _, stderr := ufopctlTry(conf, "migrate", "start", "longline", "--from", origin.URL+"/o", "--to", "dst", "--list", list); code == 0 || !strings.Contains(stderr, "line 2") {
		t.Errorf("long line: %d %q", code, stderr)
	}

	// ls, pause on a finished job (conflict), rm.
	code, out, _ = ufopctlTry(conf, "migrate", "ls")
	if code != 0 || !strings.Contains(out, "files") || !strings.Contains(out, "web") {
		t.Fatalf("ls: %d %s", code, out)
	}
	if code, _, stderr := ufopctlTry(conf, "migrate", "pause", "files"); code == 0 || !strings.Contains(stderr, "is done") {
		t.Fatalf("pause a done job: %d %q", code, stderr)
	}
	if code, _, stderr := ufopctlTry(alice, "migrate", "status", "files"); code == 0 || !strings.Contains(stderr, "no such migration") {
		t.Fatalf("another user's job: %d %q", code, stderr)
	}
	ufopctlRun(t, conf, "migrate", "rm", "web")
	if code, _, _ := ufopctlTry(conf, "migrate", "status", "web"); code == 0 {
		t.Fatal("web still there after rm")
	}
}

// addUser creates a user and writes its ufopctl config; it returns the
// config's path.
func (a *api) addUser(name string) string {
	a.t.Helper()
	nu, err := a.cl.AddUser(context.Background(), name, ufop.TierFree, false)
	if err != nil {
		a.t.Fatal(err)
	}
	conf := filepath.Join(a.t.TempDir(), name+".json")
	if err := ufopctl.SaveConfig(conf, ufopctl.Config{AK: nu.AK, SK: nu.SK, Endpoint: a.base}); err != nil {
		a.t.Fatal(err)
	}
	return conf
}
