package usage

import (
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's CPU time so far: on a shared, loaded machine
// wall time per op mostly measures the wait for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds cpu-ns/op, the CPU time since start per op.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// Concurrent adds and drains lose nothing: the drained sums add up to
// what was added.
func TestMeterConcurrentExact(t *testing.T) {
	m := NewMeter()
	const workers, perWorker = 8, 5000
	var wg sync.WaitGroup
	total := Batch{}
	var mu sync.Mutex
	stop := make(chan struct{})
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			b := m.Drain()
			mu.Lock()
			total.Merge(b)
			mu.Unlock()
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				k := Key{Minute: int64(i % 3), Owner: "alice", Bucket: fmt.Sprintf("b%d", w%4), Cmd: "get"}
				m.Add(k, Counts{Requests: 1, Errors: int64(i % 2), BytesOut: 10, ProcessMicros: 3})
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-drained
	total.Merge(m.Drain())
	var sum Counts
	for _, c := range total {
		sum.Add(c)
	}
	want := Counts{Requests: workers * perWorker, Errors: workers * perWorker / 2, BytesOut: 10 * workers * perWorker, ProcessMicros: 3 * workers * perWorker}
	if sum != want {
		t.Fatalf("drained %+v, want %+v", sum, want)
	}
	if len(total) != 12 {
		t.Errorf("%d series, want 12 (3 minutes x 4 buckets)", len(total))
	}
	if b := m.Drain(); len(b) != 0 {
		t.Errorf("a second drain gave %v", b)
	}
}

var benchKeys = func() []Key {
	ks := make([]Key, 256)
	for i := range ks {
		ks[i] = Key{Minute: 29_000_000, Owner: fmt.Sprintf("user%d", i%32), Bucket: fmt.Sprintf("bucket-%d", i), Cmd: "imageView2"}
	}
	return ks
}()

// BenchmarkMeterAdd is the meter's share of a request: one Add to a key
// already seen this minute (the common case).
func BenchmarkMeterAdd(b *testing.B) {
	m := NewMeter()
	for _, k := range benchKeys {
		m.Add(k, Counts{})
	}
	c := Counts{Requests: 1, BytesOut: 4096, ProcessMicros: 1200}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		start := cpuTime()
		for i := 0; b.Loop(); i++ {
			m.Add(benchKeys[i%len(benchKeys)], c)
		}
		reportCPU(b, start)
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		start := cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				m.Add(benchKeys[i%len(benchKeys)], c)
				i++
			}
		})
		reportCPU(b, start)
	})
	b.Run("parallel-one-key", func(b *testing.B) {
		b.ReportAllocs()
		start := cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.Add(benchKeys[0], c)
			}
		})
		reportCPU(b, start)
	})
}
