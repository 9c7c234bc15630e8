package usage

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ufop/ufop/embedded"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/internal/testneed"
)

func openTestStore(t *testing.T, url string) *Store {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := OpenStore(ctx, js, DefaultStoreConfig())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func query(t *testing.T, s *Store, f Filter) []Row {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := s.Query(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func sumRows(rows []Row) Counts {
	var c Counts
	for _, r := range rows {
		c.Add(r.Counts)
	}
	return c
}

// Several recorders (gateways) flushing into one store at once, onto the
// same keys, lose no update: the stored sums are exactly what was added.
func TestStoreConcurrentWritersExact(t *testing.T) {
	testneed.Integration(t, "an embedded NATS server")
	url := testenv.NATS(t)
	base := MinuteOf(time.Now())
	const writers, rounds, perRound = 4, 6, 300
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		s := openTestStore(t, url) // a connection of its own, like a gateway
		rec, err := NewRecorder(RecorderConfig{Interval: time.Second, FlushTimeout: 20 * time.Second},
			func(context.Context) (*Store, error) { return s, nil }, testenv.Logger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				for i := range perRound {
					// Every writer hits the same two owners' same minutes.
					k := Key{Minute: base - int64(i%2), Owner: []string{"alice", "bob"}[i%2], Bucket: "pics", Cmd: []string{"get", "imageView2"}[i%3%2]}
					rec.Meter().Add(k, Counts{Requests: 1, Errors: int64(i % 5 / 4), BytesOut: int64(w + 1), ProcessMicros: 1000})
				}
				if err := rec.Flush(context.Background()); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s := openTestStore(t, url)
	now := time.Now()
	rows := query(t, s, Filter{From: now.Add(-time.Hour), To: now.Add(time.Hour)})
	got := sumRows(rows)
	n := int64(writers * rounds * perRound)
	want := Counts{Requests: n, Errors: n / 5, BytesOut: int64(rounds * perRound * (1 + 2 + 3 + 4)), ProcessMicros: n * 1000}
	if got != want {
		t.Fatalf("stored %+v, want %+v (rows %v)", got, want, rows)
	}
	alice := sumRows(query(t, s, Filter{Owner: "alice", From: now.Add(-time.Hour), To: now.Add(time.Hour)}))
	if alice.Requests != n/2 {
		t.Errorf("alice: %d requests, want %d", alice.Requests, n/2)
	}
	if got := query(t, s, Filter{Owner: "carol", From: now.Add(-time.Hour), To: now.Add(time.Hour)}); len(got) != 0 {
		t.Errorf("carol has rows: %v", got)
	}
}

// A flush applied again (its answer was lost) is not counted twice; the
// next flush of the writer is.
func TestStoreApplyIdempotent(t *testing.T) {
	testneed.Integration(t, "an embedded NATS server")
	s := openTestStore(t, testenv.NATS(t))
	ctx := context.Background()
	now := time.Now()
	b := Batch{{Minute: MinuteOf(now), Owner: "alice", Bucket: "pics", Cmd: "get"}: {Requests: 3, BytesOut: 30}}
	for range 2 {
		if err := s.Apply(ctx, "w1", 1, b); err != nil {
			t.Fatal(err)
		}
	}
	f := Filter{From: now.Add(-time.Hour), To: now.Add(time.Hour)}
	if got := sumRows(query(t, s, f)); got.Requests != 3 {
		t.Fatalf("after a repeated flush: %d requests, want 3", got.Requests)
	}
	if err := s.Apply(ctx, "w1", 2, b); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, "w2", 1, b); err != nil {
		t.Fatal(err)
	}
	if got := sumRows(query(t, s, f)); got.Requests != 9 || got.BytesOut != 90 {
		t.Fatalf("after three flushes: %+v, want 9 requests, 90 bytes", got)
	}
}

// Query reads only the period asked for, over several day chunks.
func TestStoreQueryPeriod(t *testing.T) {
	testneed.Integration(t, "an embedded NATS server")
	s := openTestStore(t, testenv.NATS(t))
	start := at("2026-01-01T23:59:00Z")
	b := Batch{}
	for d := range 40 {
		b[Key{Minute: MinuteOf(start.AddDate(0, 0, d)), Owner: "alice", Bucket: "pics", Cmd: "get"}] = Counts{Requests: int64(d + 1)}
	}
	if err := s.Apply(context.Background(), "w", 1, b); err != nil {
		t.Fatal(err)
	}
	// Days 2..35 (34 rows): more than two chunks of 16 days.
	rows := query(t, s, Filter{From: start.AddDate(0, 0, 2), To: start.AddDate(0, 0, 36).Add(-time.Minute)})
	if len(rows) != 34 || rows[0].Requests != 3 || rows[33].Requests != 36 {
		t.Fatalf("got %d rows: %v", len(rows), rows)
	}
	if got := Rollup(rows, Day); len(got) != 34 || !got[0].Time.Equal(at("2026-01-03T00:00:00Z")) {
		t.Fatalf("by day: %v", got)
	}
}

// Usage survives a restart of NATS: the bucket is on JetStream's file
// store.
func TestStoreSurvivesRestart(t *testing.T) {
	testneed.Integration(t, "an embedded NATS server")
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	n, err := embedded.StartNATS(embedded.NATSConfig{Dir: dir, Port: -1}, log)
	if err != nil {
		t.Fatal(err)
	}
	url := n.ClientURL()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(url, "nats://"))
	s := openTestStore(t, url)
	now := time.Now()
	b := Batch{{Minute: MinuteOf(now), Owner: "alice", Bucket: "pics", Cmd: "get"}: {Requests: 7, Errors: 1, BytesOut: 70, ProcessMicros: 7000}}
	if err := s.Apply(context.Background(), "w", 1, b); err != nil {
		t.Fatal(err)
	}
	n.Close()
	p, _ := strconv.Atoi(port)
	n, err = embedded.StartNATS(embedded.NATSConfig{Dir: dir, Port: p}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	s = openTestStore(t, n.ClientURL())
	got := query(t, s, Filter{From: now.Add(-time.Hour), To: now.Add(time.Hour)})
	if len(got) != 1 || got[0].Counts != (Counts{7, 1, 70, 7000}) {
		t.Fatalf("after the restart: %v", got)
	}
}
