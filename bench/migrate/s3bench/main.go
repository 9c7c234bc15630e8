// Command s3bench measures a migration of N objects (10–200 KB) from one
// bucket of a local versitygw into ufop on S3 (the same server), side by
// side with `rclone copy` of the same objects between two buckets, then
// runs the migration again into a fresh bucket, kill -9s its worker
// process at 50% and restarts it, and counts the PUTs the server logged
// for each key (versitygw --access-log): no key may be written twice but
// those in flight at the kill.
//
//	go run ./bench/migrate/s3bench -n 10000 -workers 16
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ufop/ufop/bench/migrate/engines"
	"github.com/ufop/ufop/egress"
	"github.com/ufop/ufop/migrate"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/storage"
)

const ak, sk = "benchak", "benchsecretkey"

var (
	n        = flag.Int("n", 10000, "objects")
	workers  = flag.Int("workers", 16, "copies at once (ufop --workers, rclone --transfers)")
	vgwBin   = flag.String("versitygw", "/root/go/bin/versitygw", "versitygw binary")
	child    = flag.Bool("child", false, "internal: run a migration worker process")
	etcdURL  = flag.String("etcd", "", "internal")
	natsURL  = flag.String("nats", "", "internal")
	endpoint = flag.String("endpoint", "", "internal")
	killOnly = flag.Bool("kill-only", false, "only the run killed at 50% (no rclone, no timed run)")
)

func main() {
	flag.Parse()
	var err error
	if *child {
		err = runChild()
	} else {
		err = run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3bench:", err)
		os.Exit(1)
	}
}

func freeAddr() string {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	return l.Addr().String()
}

func s3client(ep string) *s3.Client {
	return s3.New(s3.Options{BaseEndpoint: aws.String(ep), UsePathStyle: true, Region: "us-east-1",
		Credentials:                credentials.NewStaticCredentialsProvider(ak, sk, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired})
}

func store(ctx context.Context, ep string) (storage.Store, error) {
	return storage.Open(ctx, "s3://ufop?endpoint="+ep, storage.OpenOptions{AccessKey: ak, SecretKey: sk})
}

func policy() *egress.Policy {
	return egress.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
}

func run() error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ufop-s3bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addr := freeAddr()
	ep := "http://" + addr
	accessLog := filepath.Join(dir, "access.log")
	os.MkdirAll(filepath.Join(dir, "vgw"), 0o755)
	vgw := exec.Command(*vgwBin, "--access", ak, "--secret", sk, "--port", addr, "--keep-alive", "--quiet",
		"--access-log", accessLog, "posix", filepath.Join(dir, "vgw"))
	if err := vgw.Start(); err != nil {
		return err
	}
	defer func() { vgw.Process.Kill(); vgw.Wait() }()
	cli := s3client(ep)
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		if _, err = cli.ListBuckets(ctx, &s3.ListBucketsInput{}); err == nil || time.Since(start) > 20*time.Second {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("versitygw: %w", err)
	}
	for _, b := range []string{"src", "rcl", "rcl2", "ufop"} {
		if _, err := cli.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			return err
		}
	}
	// The source: N objects of 10–200 KB.
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := make([]int, *n)
	var total int64
	for i := range sizes {
		sizes[i] = 10<<10 + rng.IntN(190<<10)
		total += int64(sizes[i])
	}
	var wg sync.WaitGroup
	errc := make(chan error, 32)
	next := make(chan int)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 200<<10)
			for i := range next {
				b := buf[:sizes[i]]
				for j := 0; j < len(b); j += 4096 {
					b[j] = byte(i >> (j % 3))
				}
				copy(b, fmt.Sprintf("object %d", i))
				if _, err := cli.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String(fmt.Sprintf("img/%05d.jpg", i)), Body: bytes.NewReader(b)}); err != nil {
					select {
					case errc <- err:
					default:
					}
				}
			}
		}()
	}
	for i := range *n {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	fmt.Printf("source: %d objects, %.1f MB, 10–200 KB each, on versitygw %s\n", *n, float64(total)/1e6, ep)

	// rclone copy between two buckets of the same server: as it comes
	// (server-side CopyObject, no data through rclone), and with server-side
	// copy disabled (data streamed through rclone, like ufop).
	rclone := func(dst string, extra ...string) (time.Duration, error) {
		args := append([]string{"copy", "v:src", "v:" + dst, "--transfers", fmt.Sprint(*workers), "--checkers", fmt.Sprint(*workers), "-q"}, extra...)
		rc := exec.Command("rclone", args...)
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "AWS_CA_BUNDLE=") { // rclone cannot take it with a custom transport
				rc.Env = append(rc.Env, e)
			}
		}
		rc.Env = append(rc.Env, "RCLONE_CONFIG_V_TYPE=s3", "RCLONE_CONFIG_V_PROVIDER=Other", "RCLONE_CONFIG_V_ENDPOINT="+ep,
			"RCLONE_CONFIG_V_ACCESS_KEY_ID="+ak, "RCLONE_CONFIG_V_SECRET_ACCESS_KEY="+sk)
		rc.Stderr = os.Stderr
		t0 := time.Now()
		if err := rc.Run(); err != nil {
			return 0, fmt.Errorf("rclone: %w", err)
		}
		return time.Since(t0), nil
	}
	var rcloneTime, rcloneStreamTime time.Duration
	if !*killOnly {
		if rcloneTime, err = rclone("rcl"); err != nil {
			return err
		}
		if rcloneStreamTime, err = rclone("rcl2", "--disable", "Copy"); err != nil {
			return err
		}
	}

	// ufop: etcd, NATS, the runner; the target is ufop's S3 store.
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	en, err := engines.Start(ctx, dir, logger)
	if err != nil {
		return err
	}
	defer en.Close()
	etcd, nc := en.Etcd, en.NATS
	st, err := store(ctx, ep)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, b := range []string{"dst", "dst2"} {
		if err := st.CreateBucket(ctx, b); err != nil {
			return err
		}
	}
	cfg := migrate.DefaultConfig()
	cfg.ID = "bench"
	r, err := migrate.New(cfg, migrate.Deps{Etcd: etcd, NATS: nc, Store: st, Egress: policy(), Logger: logger})
	if err != nil {
		return err
	}
	rctx, stopRunner := context.WithCancel(ctx)
	defer stopRunner()
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() { defer rwg.Done(); r.Run(rctx) }()
	jobs := migrate.NewJobs(etcd, protocol.MigratePrefix)
	from := "s3://src?endpoint=" + ep
	if *killOnly {
		stopRunner()
		rwg.Wait()
		return killRun(ctx, jobs, st, from, en.EtcdURL(), en.NATSURL(), ep, accessLog)
	}
	t0 := time.Now()
	if _, err := jobs.Start(ctx, migrate.Job{Name: "bench", From: from, To: "dst", Owner: "bench", Workers: *workers, AccessKey: ak, SecretKey: sk}); err != nil {
		return err
	}
	status, err := waitDone(ctx, jobs, "bench", nil)
	if err != nil {
		return err
	}
	ufopTime := time.Since(t0)
	stopRunner()
	rwg.Wait()
	if status.Copied != int64(*n) {
		return fmt.Errorf("ufop copied %d of %d: %+v", status.Copied, *n, status)
	}
	mb := float64(total) / 1e6
	fmt.Printf("%-28s %8s %10s %8s\n", "", "time", "objects/s", "MB/s")
	fmt.Printf("%-28s %8s %10.0f %8.1f\n", fmt.Sprintf("rclone copy --transfers %d", *workers), rcloneTime.Round(10*time.Millisecond), float64(*n)/rcloneTime.Seconds(), mb/rcloneTime.Seconds())
	fmt.Printf("%-28s %8s %10.0f %8.1f\n", "rclone copy --disable Copy", rcloneStreamTime.Round(10*time.Millisecond), float64(*n)/rcloneStreamTime.Seconds(), mb/rcloneStreamTime.Seconds())
	fmt.Printf("%-28s %8s %10.0f %8.1f\n", fmt.Sprintf("ufop migrate (--workers %d)", *workers), ufopTime.Round(10*time.Millisecond), float64(*n)/ufopTime.Seconds(), mb/ufopTime.Seconds())
	fmt.Printf("ufop/rclone objects/s: %.2f (server-side copy), %.2f (streamed)\n", rcloneTime.Seconds()/ufopTime.Seconds(), rcloneStreamTime.Seconds()/ufopTime.Seconds())

	return killRun(ctx, jobs, st, from, en.EtcdURL(), en.NATSURL(), ep, accessLog)
}

// killRun migrates into dst2 with the workers in a child process, kill
// -9s it at 50%, restarts it, and counts the server's writes per key.
func killRun(ctx context.Context, jobs *migrate.Jobs, st storage.Store, from, etcdURL, natsURL, ep, accessLog string) error {
	if _, err := jobs.Start(ctx, migrate.Job{Name: "resume", From: from, To: "dst2", Owner: "bench", Workers: *workers, AccessKey: ak, SecretKey: sk}); err != nil {
		return err
	}
	startChild := func() *exec.Cmd {
		c := exec.Command(os.Args[0], "-child", "-etcd", etcdURL, "-nats", natsURL, "-endpoint", ep)
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			panic(err)
		}
		return c
	}
	c := startChild()
	killed := false
	status, err := waitDone(ctx, jobs, "resume", func(s protocol.MigrateStatus) {
		if !killed && s.Copied >= int64(*n)/2 {
			c.Process.Signal(syscall.SIGKILL)
			c.Wait()
			killed = true
			fmt.Printf("kill -9 of the worker process at copied=%d\n", s.Copied)
			c = startChild()
		}
	})
	c.Process.Signal(syscall.SIGTERM)
	c.Wait()
	if err != nil {
		return err
	}
	puts, repeated, err := countPuts(accessLog, "ufop", "dst2/")
	if err != nil {
		return err
	}
	fmt.Printf("resumed run: %+v\n", struct{ Listed, Copied, Skipped, Failed int64 }{status.Listed, status.Copied, status.Skipped, status.Failed})
	fmt.Printf("writes (PutObject, CopyObject) logged by the server for dst2: %d for %d objects (and the bucket marker); keys written more than once: %d\n", puts, *n, repeated)
	src, err := (migrate.Opener{Egress: policy()}).Open(ctx, migrate.Job{From: from, AccessKey: ak, SecretKey: sk})
	if err != nil {
		return err
	}
	defer src.Close()
	v, err := migrate.Verify(ctx, src, st, "dst2", 1000)
	if err != nil {
		return err
	}
	fmt.Printf("verify dst2: %d checked, %d missing, %d different\n", v.Checked, len(v.Missing), len(v.Different))
	return nil
}

func waitDone(ctx context.Context, jobs *migrate.Jobs, name string, each func(protocol.MigrateStatus)) (protocol.MigrateStatus, error) {
	for {
		time.Sleep(100 * time.Millisecond)
		st, _, err := jobs.Status(ctx, name)
		if err != nil {
			return st, err
		}
		if each != nil {
			each(st)
		}
		switch st.State {
		case protocol.MigrateDone:
			return st, nil
		case protocol.MigrateFailed:
			return st, fmt.Errorf("job failed: %s", st.Error)
		}
	}
}

// countPuts reads versitygw's access log: lines "- BUCKET [time] ip - id
// s3_PutObject KEY ..." (CopyObject and CompleteMultipartUpload write too).
func countPuts(path, bucket, keyPrefix string) (total, repeated int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	per := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 9 || fs[1] != bucket || (fs[7] != "s3_PutObject" && fs[7] != "s3_CompleteMultipartUpload" && fs[7] != "s3_CopyObject") || !strings.HasPrefix(fs[8], keyPrefix) {
			continue
		}
		per[fs[8]]++
		total++
	}
	for _, c := range per {
		if c > 1 {
			repeated++
		}
	}
	return total, repeated, sc.Err()
}

func runChild() error {
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 1)
	go func() { <-sig; cancel() }()
	signalNotify(sig)
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{*etcdURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer etcd.Close()
	nc, err := nats.Connect(*natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	st, err := store(ctx, *endpoint)
	if err != nil {
		return err
	}
	defer st.Close()
	cfg := migrate.DefaultConfig()
	cfg.ID = fmt.Sprintf("child-%d", os.Getpid())
	cfg.AckWait = 2 * time.Second
	r, err := migrate.New(cfg, migrate.Deps{Etcd: etcd, NATS: nc, Store: st, Egress: policy(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	return r.Run(ctx)
}
