// Package usage meters what the platform does for each user (SPEC §14):
// requests, errors, bytes out and processing time per bucket owner, bucket,
// command and minute. A gateway adds every request to a Meter (striped
// in-memory sums, no allocation for a key already seen this minute); a
// Recorder flushes the sums every few seconds and on stop to a Store, a
// JetStream key-value bucket that every gateway updates with compare-and-set,
// so the totals are exact over any number of gateways. Query reads the
// minutes back and Rollup sums them by hour or day.
package usage

import (
	"hash/maphash"
	"sync"
	"time"
)

// Key names one series: a bucket owner's use of one bucket with one command
// in one minute. Owner, Bucket and Cmd are strings the caller already holds
// (catalog entries, fop names), so making a Key copies no bytes.
type Key struct {
	// Minute is the Unix time in minutes (UTC).
	Minute int64
	Owner  string
	Bucket string
	Cmd    string
}

// MinuteOf returns the Minute of t.
func MinuteOf(t time.Time) int64 { return t.Unix() / 60 }

// Time returns the start of k's minute.
func (k Key) Time() time.Time { return time.Unix(k.Minute*60, 0).UTC() }

// Counts are the sums of one series. Processing time is kept in
// microseconds so that sums of short requests stay exact; it is shown in
// milliseconds.
type Counts struct {
	Requests      int64 `json:"requests"`
	Errors        int64 `json:"errors"`
	BytesOut      int64 `json:"bytes_out"`
	ProcessMicros int64 `json:"process_us"`
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Requests += o.Requests
	c.Errors += o.Errors
	c.BytesOut += o.BytesOut
	c.ProcessMicros += o.ProcessMicros
}

// Batch is a set of series and their sums.
type Batch map[Key]Counts

// Merge adds o's sums to b.
func (b Batch) Merge(o Batch) {
	for k, c := range o {
		s := b[k]
		s.Add(c)
		b[k] = s
	}
}

// shards of a Meter: enough that gateways on many cores rarely meet on one
// lock, few enough that a drain is cheap.
const shards = 64

type shard struct {
	mu sync.Mutex
	m  Batch
	// Keeps neighbouring shards' locks off one cache line.
	_ [40]byte
}

// Meter sums requests in memory. It is safe for concurrent use; the zero
// value is not ready, use NewMeter.
type Meter struct {
	seed   maphash.Seed
	shards [shards]shard
}

// NewMeter returns an empty meter.
func NewMeter() *Meter {
	m := &Meter{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].m = Batch{}
	}
	return m
}

// Add adds c to k's sums. It allocates only for a key new since the last
// Drain.
func (m *Meter) Add(k Key, c Counts) {
	// Bucket names are unique platform-wide, so they spread the load and
	// keep one bucket's series together.
	s := &m.shards[maphash.String(m.seed, k.Bucket)%shards]
	s.mu.Lock()
	v := s.m[k]
	v.Add(c)
	s.m[k] = v
	s.mu.Unlock()
}

// Drain returns the sums since the last Drain and starts afresh.
func (m *Meter) Drain() Batch {
	out := Batch{}
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		old := s.m
		if len(old) > 0 {
			s.m = make(Batch, len(old))
		}
		s.mu.Unlock()
		switch {
		case len(old) == 0:
			continue
		case len(out) == 0:
			out = old
		default:
			out.Merge(old)
		}
	}
	return out
}
