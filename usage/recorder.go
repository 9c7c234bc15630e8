package usage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// RecorderConfig configures a Recorder.
type RecorderConfig struct {
	// Interval is how often the sums are flushed to the store: a gateway
	// killed without a stop loses at most this much of its counts.
	Interval time.Duration
	// FlushTimeout bounds one flush, the last one on stop included.
	FlushTimeout time.Duration
}

// DefaultRecorderConfig flushes every 5 s: well within the 15 s in which
// counts must appear (SPEC §14), and the most a killed gateway loses.
func DefaultRecorderConfig() RecorderConfig {
	return RecorderConfig{Interval: 5 * time.Second, FlushTimeout: 5 * time.Second}
}

// Validate reports a config that cannot work.
func (c RecorderConfig) Validate() error {
	switch {
	case c.Interval <= 0 || c.Interval > 10*time.Second:
		return errors.New("usage: the flush interval must be more than 0 and at most 10s")
	case c.FlushTimeout <= 0:
		return errors.New("usage: the flush timeout must be positive")
	}
	return nil
}

// Recorder owns a Meter and flushes it to a Store. Each flush is a batch
// numbered in order under a writer ID of its own (random per Recorder), so
// that a batch whose answer was lost can be applied again without being
// counted twice. While a batch fails, later counts wait beside it, merged
// into the next.
type Recorder struct {
	cfg     RecorderConfig
	meter   *Meter
	open    func(context.Context) (*Store, error)
	logger  *slog.Logger
	writer  string
	drained func(Batch)

	mu      sync.Mutex            // one flush at a time
	store   atomic.Pointer[Store] // set once opened; read by queries without mu
	seq     uint64
	pending Batch // applied in part or not at all, as flush seq
	next    Batch // not yet tried
}

// NewRecorder returns a recorder flushing to the store that open returns;
// open is called at each flush until it succeeds (the store's server may
// start after the gateway), and counts wait meanwhile. drained, when set,
// is called with every batch taken from the meter (for metrics). open may
// be nil: the meter is then drained for drained alone.
func NewRecorder(cfg RecorderConfig, open func(context.Context) (*Store, error), logger *slog.Logger, drained func(Batch)) (*Recorder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 8)
	rand.Read(b)
	return &Recorder{cfg: cfg, meter: NewMeter(), open: open, logger: logger, writer: hex.EncodeToString(b),
		drained: drained, next: Batch{}}, nil
}

// Open opens the store if it is not open yet.
func (r *Recorder) Open(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err := r.openLocked(ctx)
	return err
}

func (r *Recorder) openLocked(ctx context.Context) (*Store, error) {
	if s := r.store.Load(); s != nil || r.open == nil {
		return s, nil
	}
	s, err := r.open(ctx)
	if err != nil {
		return nil, err
	}
	r.store.Store(s)
	return s, nil
}

// Store returns the store once opened, else nil.
func (r *Recorder) Store() *Store {
	return r.store.Load()
}

// Meter is where requests are added.
func (r *Recorder) Meter() *Meter { return r.meter }

// Run opens the store, then flushes every interval until ctx ends, then
// once more.
func (r *Recorder) Run(ctx context.Context) {
	if r.open != nil {
		octx, cancel := context.WithTimeout(ctx, r.cfg.FlushTimeout)
		if err := r.Open(octx); err != nil {
			r.logger.Warn("usage store not available yet, trying again at each flush", "err", err)
		}
		cancel()
	}
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.flushLogged(context.Background())
		case <-ctx.Done():
			r.flushLogged(context.Background())
			return
		}
	}
}

func (r *Recorder) flushLogged(ctx context.Context) {
	if err := r.Flush(ctx); err != nil {
		r.logger.Warn("usage flush failed, keeping the counts for the next", "err", err)
	}
}

// Flush takes the meter's sums and adds them to the store.
func (r *Recorder) Flush(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.FlushTimeout)
	defer cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.meter.Drain()
	if len(b) > 0 && r.drained != nil {
		r.drained(b)
	}
	if r.open == nil {
		return nil
	}
	r.next.Merge(b)
	store, err := r.openLocked(ctx)
	if err != nil {
		return err
	}
	for {
		if r.pending == nil {
			if len(r.next) == 0 {
				return nil
			}
			r.seq++
			r.pending, r.next = r.next, Batch{}
		}
		if err := store.Apply(ctx, r.writer, r.seq, r.pending); err != nil {
			return err
		}
		r.pending = nil
	}
}
