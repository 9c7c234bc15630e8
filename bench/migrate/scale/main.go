// Command scale runs a synthetic migration of many keys (default 10
// million) through the real machinery — embedded etcd and NATS JetStream,
// the elected lister with its checkpoints, the work queue, the workers and
// their etcd counters — with a synthetic source and a synthetic target
// whose copies are no-ops, then verifies by merging the two listings. It
// prints the time of each phase and the process's peak RSS, to show that
// memory stays bounded whatever the number of keys.
//
//	go run ./bench/migrate/scale -keys 10000000          # unchanged keys, sifted by the lister
//	go run ./bench/migrate/scale -keys 10000000 -queue   # every key through the work queue
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/bench/migrate/engines"
	"github.com/ufop/ufop/migrate"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/storage"
)

func main() {
	keys := flag.Int64("keys", 10_000_000, "synthetic source keys")
	workers := flag.Int("workers", 64, "copies at once")
	page := flag.Int("page", 1000, "keys per lister page")
	verifyOnly := flag.Bool("verify-only", false, "only the verify merge of the two synthetic listings")
	queued := flag.Bool("queue", false, "start from an empty target, so every key goes through the work queue and is copied (1 KiB read, discarded by the target) instead of sifted out by the lister")
	flag.Parse()
	if *verifyOnly {
		start := time.Now()
		v, err := migrate.Verify(context.Background(), synthSource{*keys}, synthStore{n: *keys}, "dst", 1000)
		if err != nil {
			fmt.Fprintln(os.Stderr, "scale:", err)
			os.Exit(1)
		}
		fmt.Printf("verify merge: %d keys checked in %s (%d missing, %d different); peak RSS %s\n", v.Checked,
			time.Since(start).Round(time.Millisecond), len(v.Missing), len(v.Different), peakRSS())
		return
	}
	if err := run(*keys, *workers, *page, *queued); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

func key(i int64) string { return fmt.Sprintf("k/%010d.jpg", i) }

func index(k string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(k, "k/"), ".jpg"), 10, 64)
	return n
}

// synthSource generates keys k/0000000000.jpg ... in order, 1 KiB each.
type synthSource struct{ n int64 }

func (s synthSource) Sorted() bool { return true }
func (s synthSource) Close() error { return nil }
func (s synthSource) Page(_ context.Context, pos string, limit int) ([]migrate.Entry, string, bool, error) {
	i := int64(0)
	if pos != "" {
		i = index(pos) + 1
	}
	var out []migrate.Entry
	for ; i < s.n && len(out) < limit; i++ {
		out = append(out, migrate.Entry{Key: key(i), Size: 1024, ETag: "0123456789abcdef0123456789abcdef"})
	}
	next := pos
	if len(out) > 0 {
		next = out[len(out)-1].Key
	}
	return out, next, i >= s.n, nil
}
func (s synthSource) Open(_ context.Context, k string) (io.ReadCloser, migrate.Entry, error) {
	return io.NopCloser(io.LimitReader(zeros{}, 1024)), migrate.Entry{Key: k, Size: 1024, ETag: "0123456789abcdef0123456789abcdef"}, nil
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// synthStore has every key of the source already (so copies are skips, a
// Stat each) and lists them like the source.
type synthStore struct {
	storage.Store
	n int64
	// empty: the target starts with nothing (and keeps nothing: a Put
	// reads the body and discards it).
	empty bool
}

func (s synthStore) Put(_ context.Context, bucket, k string, body io.Reader, _ storage.PutOptions) (ufop.Object, error) {
	n, err := io.Copy(io.Discard, body)
	return ufop.Object{Bucket: bucket, Key: k, Size: n, ETag: "0123456789abcdef0123456789abcdef"}, err
}

func (s synthStore) Stat(_ context.Context, bucket, k string) (ufop.Object, error) {
	return ufop.Object{Bucket: bucket, Key: k, Size: 1024, ETag: "0123456789abcdef0123456789abcdef"}, nil
}
func (s synthStore) List(ctx context.Context, bucket, prefix, marker string, limit int) ([]ufop.Object, string, error) {
	if s.empty {
		return nil, "", nil
	}
	es, _, done, _ := synthSource{s.n}.Page(ctx, marker, limit)
	out := make([]ufop.Object, len(es))
	for i, e := range es {
		out[i] = ufop.Object{Bucket: bucket, Key: e.Key, Size: e.Size, ETag: e.ETag}
	}
	next := ""
	if !done && len(out) > 0 {
		next = out[len(out)-1].Key
	}
	return out, next, nil
}
func (s synthStore) Close() error { return nil }

func peakRSS() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "?"
}

func run(n int64, workers, page int, queued bool) error {
	dir, err := os.MkdirTemp("", "ufop-migrate-scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	en, err := engines.Start(ctx, dir, logger)
	if err != nil {
		return err
	}
	defer en.Close()
	cli, nc := en.Etcd, en.NATS
	store := synthStore{n: n, empty: queued}
	cfg := migrate.DefaultConfig()
	cfg.ID, cfg.PageSize = "scale", page
	r, err := migrate.New(cfg, migrate.Deps{Etcd: cli, NATS: nc, Store: store, Logger: logger,
		OpenSource: func(context.Context, migrate.Job) (migrate.Source, error) { return synthSource{n}, nil }})
	if err != nil {
		return err
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.Run(rctx) }()
	jobs := migrate.NewJobs(cli, protocol.MigratePrefix)
	start := time.Now()
	if _, err := jobs.Start(ctx, migrate.Job{Name: "scale", From: "synthetic", To: "dst", Owner: "bench", Workers: workers}); err != nil {
		return err
	}
	var maxHeap uint64
	var ms runtime.MemStats
	last := time.Now()
	for {
		time.Sleep(time.Second)
		runtime.ReadMemStats(&ms)
		maxHeap = max(maxHeap, ms.HeapInuse)
		st, _, err := jobs.Status(ctx, "scale")
		if err != nil {
			return err
		}
		if time.Since(last) > 30*time.Second {
			fmt.Printf("  %s listed %d handled %d  rss peak %s\n", time.Since(start).Round(time.Second), st.Listed,
				st.Copied+st.Skipped+st.Failed, peakRSS())
			last = time.Now()
		}
		if st.State == protocol.MigrateDone {
			fmt.Printf("job: %d keys listed, queued and handled (skipped %d) in %s: %.0f keys/s; heap in use peak %s; peak RSS %s\n",
				st.Listed, st.Skipped, time.Since(start).Round(time.Millisecond), float64(st.Listed)/time.Since(start).Seconds(),
				ufop.FormatBytes(int64(maxHeap)), peakRSS())
			break
		}
		if st.State == protocol.MigrateFailed {
			return fmt.Errorf("job failed: %s", st.Error)
		}
	}
	stop()
	wg.Wait()
	if queued {
		return nil // the target kept nothing to verify against
	}
	vstart := time.Now()
	v, err := migrate.Verify(ctx, synthSource{n}, store, "dst", 1000)
	if err != nil {
		return err
	}
	runtime.ReadMemStats(&ms)
	fmt.Printf("verify merge: %d keys checked in %s (%d missing, %d different); peak RSS %s\n", v.Checked,
		time.Since(vstart).Round(time.Millisecond), len(v.Missing), len(v.Different), peakRSS())
	return nil
}
