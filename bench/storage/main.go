// Command storagebench measures object PUT and GET throughput through
// ufop gateways (one per storage backend) and, side by side in the same
// run, the same operations sent straight to the S3 server with rclone.
// bench/storage/run.sh starts the servers and runs it; it talks only to
// the loopback addresses it is given.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ufop/ufop/auth"
)

type gatewayFlag struct{ name, url, conf string }

type gatewayList []gatewayFlag

func (g *gatewayList) String() string { return fmt.Sprint(*g) }

// Set takes NAME=URL,CONFIG,PID... (PID read from CONFIG's dir/ufopd.pid).
func (g *gatewayList) Set(v string) error {
	name, rest, ok := strings.Cut(v, "=")
	url, conf, ok2 := strings.Cut(rest, ",")
	if !ok || !ok2 {
		return errors.New("want NAME=URL,UFOPCTL_CONFIG")
	}
	*g = append(*g, gatewayFlag{name, url, conf})
	return nil
}

type size struct {
	name  string
	bytes int
	n     int
}

type result struct {
	target, op, size string
	n                int
	bytes            int64
	elapsed          time.Duration
	rss              *rssStats
}

type rssStats struct{ before, peak, after int64 }

func main() {
	var gws gatewayList
	flag.Var(&gws, "gateway", "NAME=URL,UFOPCTL_CONFIG of a gateway to measure (repeat); ufopd's pid is read from the config's dir/ufopd.pid")
	endpoint := flag.String("s3-endpoint", "", "S3 endpoint for the direct runs (rclone)")
	ak := flag.String("s3-ak", "", "S3 access key")
	sk := flag.String("s3-sk", "", "S3 secret key")
	bucket := flag.String("s3-bucket", "", "S3 bucket for the direct runs")
	conc := flag.Int("c", 4, "concurrent requests (and rclone --transfers)")
	scale := flag.Float64("scale", 1, "multiply object counts by this")
	tmp := flag.String("tmp", "/dev/shm", "scratch dir for rclone's local files")
	flag.Parse()

	sizes := []size{{"1KB", 1000, 400}, {"200KB", 200_000, 200}, {"20MB", 20_000_000, 12}}
	for i := range sizes {
		sizes[i].n = max(1, int(float64(sizes[i].n)**scale))
	}
	var results []result
	for _, sz := range sizes {
		data := make([]byte, sz.bytes)
		rand.New(rand.NewSource(int64(sz.bytes))).Read(data)
		for _, gw := range gws {
			res, err := benchGateway(gw, sz, data, *conc)
			if err != nil {
				fatal(err)
			}
			results = append(results, res...)
		}
		if *endpoint != "" {
			res, err := benchRclone(*endpoint, *ak, *sk, *bucket, sz, data, *conc, *tmp)
			if err != nil {
				fatal(err)
			}
			results = append(results, res...)
		}
	}
	printTable(results)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "storagebench:", err)
	os.Exit(1)
}

func readCreds(conf string) (ak, sk string, err error) {
	b, err := os.ReadFile(conf)
	if err != nil {
		return "", "", err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return "", "", err
	}
	ak, _ = m["ak"].(string)
	sk, _ = m["sk"].(string)
	if ak == "" || sk == "" {
		return "", "", fmt.Errorf("%s: no ak/sk", conf)
	}
	return ak, sk, nil
}

// rssOf returns a process's resident set in bytes.
func rssOf(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return -1
}

// sampleRSS polls pid's RSS every 20 ms until stop, keeping the peak.
func sampleRSS(pid int, stop <-chan struct{}, peak *atomic.Int64, done *sync.WaitGroup) {
	defer done.Done()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if r := rssOf(pid); r > peak.Load() {
			peak.Store(r)
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

func benchGateway(gw gatewayFlag, sz size, data []byte, conc int) ([]result, error) {
	ak, sk, err := readCreds(gw.conf)
	if err != nil {
		return nil, err
	}
	pidb, _ := os.ReadFile(filepath.Join(filepath.Dir(gw.conf), "ufopd.pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidb)))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc * 2}, Timeout: 5 * time.Minute}
	hash := auth.BodyHash(data)
	key := func(i int) string { return fmt.Sprintf("bench/%s/%04d", sz.name, i) }

	put := func(i int) (int64, error) {
		path := "/v1/objects/" + key(i)
		req, _ := http.NewRequest(http.MethodPut, gw.url+path, bytes.NewReader(data))
		auth.SignRequest(req, ak, sk, hash, time.Now())
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return 0, fmt.Errorf("%s: PUT %s: %s", gw.name, path, resp.Status)
		}
		return int64(len(data)), nil
	}
	ops := []struct {
		op string
		do func(i int) (int64, error)
	}{
		{"put", put},
		{"get", func(i int) (int64, error) {
			resp, err := client.Get(gw.url + "/" + key(i))
			if err != nil {
				return 0, err
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || n != int64(len(data)) {
				return 0, fmt.Errorf("%s: GET %s: %s, %d bytes (%v)", gw.name, key(i), resp.Status, n, err)
			}
			return n, err
		}},
	}
	if len(data) >= 10<<20 {
		// Again, to show the RSS stays where the first round left it.
		ops = append(ops, struct {
			op string
			do func(i int) (int64, error)
		}{"put again", put})
	}
	var out []result
	for _, op := range ops {
		runtimeGC(client)
		st := &rssStats{before: rssOf(pid)}
		var peak atomic.Int64
		stop := make(chan struct{})
		var swg sync.WaitGroup
		swg.Add(1)
		go sampleRSS(pid, stop, &peak, &swg)
		start := time.Now()
		total, err := parallel(sz.n, conc, op.do)
		elapsed := time.Since(start)
		close(stop)
		swg.Wait()
		if err != nil {
			return nil, err
		}
		st.peak = peak.Load()
		st.after = rssOf(pid)
		out = append(out, result{target: gw.name, op: op.op, size: sz.name, n: sz.n, bytes: total, elapsed: elapsed, rss: st})
	}
	return out, nil
}

func runtimeGC(c *http.Client) { c.CloseIdleConnections() }

// parallel runs do(0..n-1) on conc workers and sums the bytes.
func parallel(n, conc int, do func(int) (int64, error)) (int64, error) {
	var next, total atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				b, err := do(i)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				total.Add(b)
			}
		}()
	}
	wg.Wait()
	return total.Load(), firstErr
}

// benchRclone puts n files with one `rclone copy` and gets them back with
// another, --transfers conc, timing each process.
func benchRclone(endpoint, ak, sk, bucket string, sz size, data []byte, conc int, tmp string) ([]result, error) {
	dir, err := os.MkdirTemp(tmp, "storagebench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "src")
	dst := filepath.Join(dir, "dst")
	os.MkdirAll(src, 0o755)
	for i := range sz.n {
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("%04d", i)), data, 0o644); err != nil {
			return nil, err
		}
	}
	remote := fmt.Sprintf(":s3,provider=Other,endpoint=%q,access_key_id=%s,secret_access_key=%s:%s/direct/%s", endpoint, ak, sk, bucket, sz.name)
	common := []string{"--transfers", strconv.Itoa(conc), "--checkers", strconv.Itoa(conc), "--s3-upload-concurrency", "2",
		"--s3-chunk-size", "8M", "--s3-upload-cutoff", "8M", "--no-check-dest", "--s3-disable-checksum", "--ignore-checksum", "-q"}
	run := func(args ...string) (time.Duration, error) {
		cmd := exec.CommandContext(context.Background(), "rclone", append(args, common...)...)
		// rclone cannot use a custom CA bundle with its own transport,
		// and loopback http needs none.
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "AWS_CA_BUNDLE=") {
				cmd.Env = append(cmd.Env, e)
			}
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		err := cmd.Run()
		if err != nil {
			return 0, fmt.Errorf("rclone %s: %v: %s", args[0], err, stderr.String())
		}
		return time.Since(start), nil
	}
	total := int64(sz.n) * int64(len(data))
	putT, err := run("copy", src, remote)
	if err != nil {
		return nil, err
	}
	getT, err := run("copy", remote, dst)
	if err != nil {
		return nil, err
	}
	ents, _ := os.ReadDir(dst)
	if len(ents) != sz.n {
		return nil, fmt.Errorf("rclone got %d files back, want %d", len(ents), sz.n)
	}
	return []result{
		{target: "direct (rclone)", op: "put", size: sz.name, n: sz.n, bytes: total, elapsed: putT},
		{target: "direct (rclone)", op: "get", size: sz.name, n: sz.n, bytes: total, elapsed: getT},
	}, nil
}

func mb(b int64) string {
	if b < 0 {
		return "?"
	}
	return fmt.Sprintf("%.0f", float64(b)/(1<<20))
}

func printTable(rs []result) {
	// The direct run of the same size and op is the reference.
	ref := map[string]float64{}
	for _, r := range rs {
		if strings.HasPrefix(r.target, "direct") {
			ref[r.op+r.size] = float64(r.bytes) / r.elapsed.Seconds()
		}
	}
	fmt.Printf("| size | op | target | objects | obj/s | MB/s | × direct | ufopd RSS MiB before / peak / after |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		bps := float64(r.bytes) / r.elapsed.Seconds()
		ratio := "1.00"
		if !strings.HasPrefix(r.target, "direct") {
			ratio = fmt.Sprintf("%.2f", bps/ref[strings.Fields(r.op)[0]+r.size])
		}
		rss := "-"
		if r.rss != nil {
			rss = fmt.Sprintf("%s / %s / %s", mb(r.rss.before), mb(r.rss.peak), mb(r.rss.after))
		}
		fmt.Printf("| %s | %s | %s | %d | %.0f | %.1f | %s | %s |\n", r.size, r.op, r.target, r.n,
			float64(r.n)/r.elapsed.Seconds(), bps/1e6, ratio, rss)
	}
}
