package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The test binary doubles as ufopctl: with this variable set, TestMain
// runs main instead of the tests, so the tests see the real process
// wiring (arguments, standard streams, environment, exit code).
const runMainEnv = "UFOPCTL_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

type result struct {
	code           int
	stdout, stderr string
}

// runCtl runs main in a child process with env added to a minimal
// environment.
func runCtl(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	// No inherited UFOP_CONFIG or config directory: only what the test
	// gives.
	cmd.Env = append([]string{runMainEnv + "=1", "HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var exit *exec.ExitError
	code := 0
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

func TestUsageAndExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"help", []string{"--help"}, 0, "usage: ufopctl", ""},
		{"no command", nil, 2, "", "usage: ufopctl"},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"bad flag", []string{"--nope"}, 2, "", "flag provided but not defined"},
		{"missing argument", []string{"--config", "/nonexistent/c.json", "info"}, 2, "", "ufopctl: info:"},
		{"no config", []string{"--config", "/nonexistent/c.json", "list"}, 1, "", "ufopctl:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCtl(t, nil, "", tc.args...)
			if r.code != tc.code {
				t.Errorf("exit code %d, want %d (stderr %q)", r.code, tc.code, r.stderr)
			}
			if !strings.Contains(r.stdout, tc.stdout) || (tc.stdout == "" && r.stdout != "") {
				t.Errorf("stdout %q, want %q", r.stdout, tc.stdout)
			}
			if !strings.Contains(r.stderr, tc.stderr) || (tc.stderr == "" && r.stderr != "") {
				t.Errorf("stderr %q, want %q", r.stderr, tc.stderr)
			}
		})
	}
}

// TestConfigLocation: main passes the user config directory
// ($XDG_CONFIG_HOME on Linux) and $UFOP_CONFIG through; the variable wins.
func TestConfigLocation(t *testing.T) {
	login := []string{"login", "--ak", "AK1", "--sk", "SK1", "--endpoint", "http://127.0.0.1:9000"}
	xdg := t.TempDir()
	if r := runCtl(t, []string{"XDG_CONFIG_HOME=" + xdg}, "", login...); r.code != 0 {
		t.Fatalf("login: %+v", r)
	}
	readEndpoint := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("config not written: %v", err)
		}
		var c struct{ Endpoint string }
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		return c.Endpoint
	}
	if got := readEndpoint(filepath.Join(xdg, "ufop", "config.json")); got != "http://127.0.0.1:9000" {
		t.Errorf("endpoint %q in the user config", got)
	}
	other := filepath.Join(t.TempDir(), "c.json")
	if r := runCtl(t, []string{"XDG_CONFIG_HOME=" + xdg, "UFOP_CONFIG=" + other}, "", login...); r.code != 0 {
		t.Fatalf("login: %+v", r)
	}
	if got := readEndpoint(other); got != "http://127.0.0.1:9000" {
		t.Errorf("endpoint %q in $UFOP_CONFIG", got)
	}
}

// TestPutFromStdin: an upload of "-" reads main's standard input and sends
// it, signed, to the configured gateway.
func TestPutFromStdin(t *testing.T) {
	var mu sync.Mutex
	var method, path, auth string
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		method, path, auth = r.Method, r.URL.Path, r.Header.Get("Authorization")
		body, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"bucket":"photos","key":"a.txt","size":5,"etag":"x"}`)
	}))
	defer srv.Close()
	cfg := filepath.Join(t.TempDir(), "c.json")
	if r := runCtl(t, []string{"UFOP_CONFIG=" + cfg}, "", "login", "--ak", "AK1", "--sk", "SK1", "--endpoint", srv.URL); r.code != 0 {
		t.Fatalf("login: %+v", r)
	}
	r := runCtl(t, []string{"UFOP_CONFIG=" + cfg}, "hello", "put", "photos", "a.txt", "-")
	if r.code != 0 {
		t.Fatalf("put: %+v", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if method != http.MethodPut || !strings.Contains(path, "photos") || !strings.Contains(path, "a.txt") {
		t.Errorf("request %s %s", method, path)
	}
	if string(body) != "hello" {
		t.Errorf("uploaded %q, want stdin %q", body, "hello")
	}
	if !strings.Contains(auth, "AK1") {
		t.Errorf("Authorization %q does not carry the access key", auth)
	}
}
