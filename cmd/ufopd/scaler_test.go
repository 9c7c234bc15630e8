package main

import (
	"bytes"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/ufop/ufop/internal/testenv"
)

// TestScalerRole runs two `ufopd scaler` processes against one etcd and
// NATS: one leads (its /metrics says so), and when it is stopped the
// other takes the lead.
func TestScalerRole(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	bin := buildUfopd(t)
	etcdURL, natsURL := testenv.Etcd(t), testenv.NATS(t)
	var procs []*proc
	var urls []string
	for _, name := range []string{"scaler-a", "scaler-b"} {
		addr := testenv.FreeAddr(t)
		procs = append(procs, startProc(t, bin, name, "scaler", "--etcd", etcdURL, "--nats", natsURL, "--metrics-addr", addr))
		urls = append(urls, "http://"+addr+"/metrics")
	}
	for _, u := range urls {
		waitHTTP(t, u, 30*time.Second)
	}
	leads := func(url string) bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return bytes.Contains(b, []byte("\nufop_scaler_leader 1\n"))
	}
	leader := -1
	testenv.Eventually(t, 20*time.Second, func() bool {
		a, b := leads(urls[0]), leads(urls[1])
		if a != b {
			leader = 0
			if b {
				leader = 1
			}
		}
		return a != b
	}, "exactly one scaler leads")
	procs[leader].cmd.Process.Signal(syscall.SIGTERM)
	testenv.Eventually(t, 20*time.Second, func() bool { return leads(urls[1-leader]) }, "the other scaler takes the lead")
}
