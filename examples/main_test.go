package examples

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ufop/ufop/sdk"
)

// TestHandlerBinaryDrainsOnSIGTERM runs the slow example's real binary the
// way an instance runs (PORT_HTTP set, SIGTERM on stop): sdk.Main must
// serve, finish the request in flight after SIGTERM and exit 0.
func TestHandlerBinaryDrainsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the examples")
	}
	dir, err := Build(context.Background(), "slow", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()

	cmd := exec.Command(filepath.Join(dir, "handler"))
	cmd.Env = append(os.Environ(), "PORT_HTTP="+port)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	})
	base := "http://127.0.0.1:" + port
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance never became healthy: %v\n%s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Post(base+"/handler?cmd=my-slow/1500", "text/plain", strings.NewReader("payload"))
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- result{status: resp.StatusCode, body: string(b)}
	}()
	// SIGTERM once the request is in the instance's hands.
	for {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.Header.Get(sdk.InflightHeader) == "1" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("request never in flight: %v\n%s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.status != 200 || r.body != "payload" {
		t.Fatalf("in-flight request after SIGTERM: %d %q %v\n%s", r.status, r.body, r.err, stderr.String())
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("instance still running after SIGTERM\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "draining") {
		t.Errorf("log lacks the draining line:\n%s", stderr.String())
	}
}
