// Command hostile is a UFOP that attacks its sandbox on request, for the
// tests of package container. It serves the instance protocol's health
// check on $PORT_HTTP and these endpoints, each answering JSON:
//
//	/dial?addr=HOST:PORT      open a TCP connection (reach other services)
//	/fetch?url=URL            GET a URL and return its body
//	/whoami                   uid, gid, capabilities, no_new_privs, writable paths
//	/forkbomb                 start copies of itself until the kernel refuses
//	/memhog                   allocate and touch memory until killed
//	/slow?d=DURATION          send headers, then the body after a delay (graceful stop)
//	/sick                     make /health answer 500 from now on
//
// With HOSTILE_IGNORE_TERM=1 it ignores SIGTERM; otherwise SIGTERM drains
// in-flight requests and exits. With HOSTILE_EXIT=N it exits at once with
// status N (a program that crashes on start).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if os.Getenv("HOSTILE_CHILD") == "1" {
		select {} // a fork bomb child: hold a pid forever
	}
	if code := os.Getenv("HOSTILE_EXIT"); code != "" {
		fmt.Println("hostile: exiting on start as asked")
		n, _ := strconv.Atoi(code)
		os.Exit(n)
	}
	port := os.Getenv("PORT_HTTP")
	if port == "" {
		port = "9100"
	}
	mux := http.NewServeMux()
	var sick atomic.Bool
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if sick.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
		reply(w, map[string]any{"ok": !sick.Load()})
	})
	mux.HandleFunc("/sick", func(w http.ResponseWriter, r *http.Request) { sick.Store(true); reply(w, map[string]any{"sick": true}) })
	mux.HandleFunc("/dial", dial)
	mux.HandleFunc("/fetch", fetch)
	mux.HandleFunc("/whoami", whoami)
	mux.HandleFunc("/forkbomb", forkbomb)
	mux.HandleFunc("/memhog", memhog)
	mux.HandleFunc("/slow", slow)
	srv := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	ignore := os.Getenv("HOSTILE_IGNORE_TERM") == "1"
	sigs := []os.Signal{syscall.SIGTERM, syscall.SIGINT}
	if ignore {
		signal.Ignore(syscall.SIGTERM) // and do not Notify it: that would undo this
		sigs = sigs[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		fmt.Println("hostile: SIGTERM, draining")
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Printf("hostile: listening on :%s (ignore SIGTERM: %v)\n", port, ignore)
	fmt.Fprintln(os.Stderr, "hostile: this line goes to stderr")
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		os.Exit(1)
	}
	<-done
	fmt.Println("hostile: drained, exiting")
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func dial(w http.ResponseWriter, r *http.Request) {
	addr := r.URL.Query().Get("addr")
	timeout, err := time.ParseDuration(r.URL.Query().Get("timeout"))
	if err != nil {
		timeout = time.Second
	}
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err == nil {
		c.Close()
	}
	reply(w, map[string]any{"addr": addr, "ok": err == nil, "error": errString(err)})
}

func fetch(w http.ResponseWriter, r *http.Request) {
	cl := &http.Client{Timeout: 3 * time.Second}
	resp, err := cl.Get(r.URL.Query().Get("url"))
	if err != nil {
		reply(w, map[string]any{"ok": false, "error": err.Error()})
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	reply(w, map[string]any{"ok": err == nil && resp.StatusCode == 200, "status": resp.StatusCode, "body": string(body), "error": errString(err)})
}

func whoami(w http.ResponseWriter, r *http.Request) {
	status, _ := os.ReadFile("/proc/self/status")
	field := func(name string) string {
		for _, l := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(l, name+":"); ok {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	writable := func(path string) string {
		err := os.WriteFile(path, []byte("x"), 0o600)
		if err == nil {
			os.Remove(path)
		}
		return errString(err)
	}
	v6, _ := os.ReadFile("/proc/sys/net/ipv6/conf/all/disable_ipv6")
	reply(w, map[string]any{
		"ipv6Off":    strings.TrimSpace(string(v6)),
		"uid":        os.Getuid(),
		"gid":        os.Getgid(),
		"capEff":     field("CapEff"),
		"capBnd":     field("CapBnd"),
		"noNewPrivs": field("NoNewPrivs"),
		"rootWrite":  writable("/probe"),
		"tmpWrite":   writable("/tmp/probe"),
		"pid":        os.Getpid(),
	})
}

func forkbomb(w http.ResponseWriter, r *http.Request) {
	n := 0
	var err error
	for n < 100000 {
		cmd := exec.Command("/proc/self/exe")
		cmd.Env = []string{"HOSTILE_CHILD=1", "GOMAXPROCS=1"}
		if err = cmd.Start(); err != nil {
			break
		}
		n++
	}
	fmt.Printf("hostile: fork bomb stopped after %d children: %v\n", n, err)
	reply(w, map[string]any{"spawned": n, "error": errString(err)})
}

func memhog(w http.ResponseWriter, r *http.Request) {
	var hold [][]byte
	for i := 0; i < 1<<14; i++ { // 16 GiB: far beyond any test limit
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		hold = append(hold, b)
	}
	reply(w, map[string]any{"held": len(hold)})
}

func slow(w http.ResponseWriter, r *http.Request) {
	d, err := time.ParseDuration(r.URL.Query().Get("d"))
	if err != nil {
		d = time.Second
	}
	// Headers first: the client then knows the request is in flight.
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	time.Sleep(d)
	_ = json.NewEncoder(w).Encode(map[string]any{"slept": d.String()})
}
