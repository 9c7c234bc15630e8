package migrate

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/storage"
)

// countingStore counts the Puts that wrote an object (one cut short by a
// stopping runner writes nothing: Put is atomic).
type countingStore struct {
	storage.Store
	puts atomic.Int64
}

func (c *countingStore) Put(ctx context.Context, bucket, key string, body io.Reader, opts storage.PutOptions) (ufop.Object, error) {
	obj, err := c.Store.Put(ctx, bucket, key, body, opts)
	if err == nil {
		c.puts.Add(1)
	}
	return obj, err
}

type rig struct {
	t      *testing.T
	jobs   *Jobs
	store  *countingStore
	nc     *nats.Conn
	deps   Deps
	prefix string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	cli := testenv.EtcdClient(t)
	nc, err := nats.Connect(testenv.NATS(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	disk, err := storage.New(storage.Config{Dir: t.TempDir()}, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { disk.Close() })
	if err := disk.CreateBucket(context.Background(), "dst"); err != nil {
		t.Fatal(err)
	}
	st := &countingStore{Store: disk}
	prefix := "/test/migrate/"
	return &rig{t: t, jobs: NewJobs(cli, prefix), store: st, nc: nc, prefix: prefix,
		deps: Deps{Etcd: cli, NATS: nc, Store: st, Logger: testenv.Logger(t)}}
}

// runner starts a runner; stop stops it and waits.
func (r *rig) runner(id string, mod func(*Config)) (stop func()) {
	cfg := DefaultConfig()
	cfg.ID, cfg.Prefix, cfg.Poll, cfg.PageSize, cfg.LeaderTTL = id, r.prefix, 50*time.Millisecond, 7, time.Second
	cfg.Backoff, cfg.MaxBackoff, cfg.AckWait = 10*time.Millisecond, 50*time.Millisecond, 2*time.Second
	if mod != nil {
		mod(&cfg)
	}
	run, err := New(cfg, r.deps)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); run.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	r.t.Cleanup(stop)
	return stop
}

func (r *rig) start(job Job) Job {
	r.t.Helper()
	wq, err := NewWorkQueue(context.Background(), r.nc)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := wq.Purge(context.Background(), job.Name); err != nil {
		r.t.Fatal(err)
	}
	j, err := r.jobs.Start(context.Background(), job)
	if err != nil {
		r.t.Fatal(err)
	}
	return j
}

func (r *rig) status(name string) protocol.MigrateStatus {
	r.t.Helper()
	st, _, err := r.jobs.Status(context.Background(), name)
	if err != nil {
		r.t.Fatal(err)
	}
	return st
}

func (r *rig) waitState(name, state string, within time.Duration) protocol.MigrateStatus {
	r.t.Helper()
	var st protocol.MigrateStatus
	testenv.Eventually(r.t, within, func() bool { st = r.status(name); return st.State == state }, "migration %s %s (last %+v)", name, state, st)
	return st
}

// writeTree writes n files (some nested) under dir and returns their keys.
func writeTree(t *testing.T, dir string, n int) []string {
	t.Helper()
	var keys []string
	for i := range n {
		var k string
		switch i % 3 {
		case 0:
			k = fmt.Sprintf("f%03d.txt", i)
		case 1:
			k = fmt.Sprintf("a/%03d.bin", i)
		default:
			k = fmt.Sprintf("a-b/c/%03d", i)
		}
		p := filepath.Join(dir, filepath.FromSlash(k))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, 100+i*37), 0o644); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

func TestRunnerCopiesVerifiesAndSkipsOnRestart(t *testing.T) {
	r := newRig(t)
	dir := t.TempDir()
	keys := writeTree(t, dir, 40)
	// A name no ufop key may have: invalid UTF-8.
	if err := os.WriteFile(filepath.Join(dir, "bad\xff.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.runner("r1", nil)
	r.runner("r2", nil)
	job := r.start(Job{Name: "m1", From: "file://" + dir, To: "dst", Owner: "admin", Workers: 4})

	st := r.waitState("m1", protocol.MigrateDone, 30*time.Second)
	if st.Listed != 41 || st.Copied != 40 || st.Failed != 1 || st.Skipped != 0 {
		t.Fatalf("first run: %+v", st)
	}
	if len(st.Failures) != 1 || !strings.Contains(st.Failures[0].Reason, "not a valid ufop key") {
		t.Fatalf("failures = %+v, want the invalid key with its reason", st.Failures)
	}
	for _, k := range keys {
		want, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(k)))
		rd, err := r.store.Get(context.Background(), "dst", k)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		got, _ := io.ReadAll(rd)
		rd.Close()
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: content differs", k)
		}
	}
	puts := r.store.puts.Load()
	if puts != 40 {
		t.Fatalf("%d puts for 40 objects", puts)
	}

	src, err := (Opener{}).Open(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Verify(context.Background(), src, r.store, "dst", 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Missing) != 1 || v.Missing[0] != "bad\xff.txt" || len(v.Different) != 0 || v.Checked != 41 {
		t.Fatalf("verify = %+v, want only the invalid key missing", v)
	}

	// Start again: nothing to copy.
	r.start(Job{Name: "m1", From: "file://" + dir, To: "dst", Owner: "admin", Workers: 4})
	st = r.waitState("m1", protocol.MigrateDone, 30*time.Second)
	if st.Skipped != 40 || st.Copied != 0 || st.Failed != 1 || r.store.puts.Load() != puts {
		t.Fatalf("second run: %+v, %d puts", st, r.store.puts.Load()-puts)
	}

	// Change one file, delete one object: verify sees both, a third run
	// copies just those.
	os.WriteFile(filepath.Join(dir, keys[3]), []byte("changed"), 0o644)
	os.WriteFile(filepath.Join(dir, keys[4]), bytes.Repeat([]byte{0xEE}, 100+4*37), 0o644) // same size
	r.store.Delete(context.Background(), "dst", keys[5])
	v, err = Verify(context.Background(), src, r.store, "dst", 5)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(v.Different, ",") != keys[4]+","+keys[3] && strings.Join(v.Different, ",") != keys[3]+","+keys[4] {
		t.Fatalf("different = %v, want %s and %s", v.Different, keys[3], keys[4])
	}
	if len(v.Missing) != 2 {
		t.Fatalf("missing = %v, want %s and the invalid key", v.Missing, keys[5])
	}
	r.start(Job{Name: "m1", From: "file://" + dir, To: "dst", Owner: "admin", Workers: 4})
	st = r.waitState("m1", protocol.MigrateDone, 30*time.Second)
	if st.Copied != 3 || st.Skipped != 37 {
		t.Fatalf("third run: %+v", st)
	}
	v, _ = Verify(context.Background(), src, r.store, "dst", 1000)
	if len(v.Missing) != 1 || len(v.Different) != 0 {
		t.Fatalf("verify after the third run = %+v", v)
	}
}

// TestListerResumesFromCheckpoint stops the only runner mid-listing and
// starts another: the listing goes on from the checkpoint (listed counts
// every key once) and every key is copied.
func TestListerResumesFromCheckpoint(t *testing.T) {
	r := newRig(t)
	dir := t.TempDir()
	writeTree(t, dir, 120)
	slow := func(c *Config) { c.PageSize = 5 }
	stop := r.runner("r1", slow)
	r.start(Job{Name: "m2", From: "file://" + dir, To: "dst", Owner: "admin", Workers: 1})
	testenv.Eventually(t, 20*time.Second, func() bool { st := r.status("m2"); return st.Listed >= 20 }, "listing under way")
	stop()
	c, _, err := r.jobs.Cursor(context.Background(), "m2")
	if err != nil {
		t.Fatal(err)
	}
	if c.Done || c.Pos == "" {
		t.Fatalf("cursor after stop = %+v, want a position mid-way", c)
	}
	r.runner("r2", slow)
	st := r.waitState("m2", protocol.MigrateDone, 60*time.Second)
	if st.Listed != 120 || st.Copied+st.Skipped != 120 || st.Failed != 0 {
		t.Fatalf("after resume: %+v", st)
	}
	if n := r.store.puts.Load(); n != 120 {
		t.Fatalf("%d puts for 120 objects", n)
	}
}

func TestPauseResume(t *testing.T) {
	r := newRig(t)
	dir := t.TempDir()
	writeTree(t, dir, 300)
	r.runner("r1", nil)
	r.start(Job{Name: "m3", From: "file://" + dir, To: "dst", Owner: "admin", Workers: 1})
	if _, err := r.jobs.SetState(context.Background(), "m3", 0, []string{protocol.MigrateRunning}, protocol.MigratePaused, ""); err != nil {
		t.Fatal(err)
	}
	// The runners see the pause on their next poll and finish the copies in
	// flight: then nothing moves.
	var st1 protocol.MigrateStatus
	testenv.Eventually(t, 10*time.Second, func() bool {
		a := r.status("m3")
		time.Sleep(300 * time.Millisecond)
		st1 = r.status("m3")
		return a.Copied == st1.Copied
	}, "paused job settles")
	time.Sleep(500 * time.Millisecond)
	st2 := r.status("m3")
	if st2.State != protocol.MigratePaused || st2.Copied != st1.Copied || st2.Copied >= 300 {
		t.Fatalf("paused job moved: %+v then %+v", st1, st2)
	}
	if _, err := r.jobs.SetState(context.Background(), "m3", 0, []string{protocol.MigratePaused}, protocol.MigrateRunning, ""); err != nil {
		t.Fatal(err)
	}
	st := r.waitState("m3", protocol.MigrateDone, 60*time.Second)
	if st.Copied+st.Skipped != 300 || r.store.puts.Load() != 300 {
		t.Fatalf("after resume: %+v, %d puts", st, r.store.puts.Load())
	}
}
