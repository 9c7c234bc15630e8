package usage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/protocol"
)

// StoreConfig configures a Store.
type StoreConfig struct {
	// Bucket names the JetStream key-value bucket.
	Bucket string
	// MaxAge drops minutes not updated for this long.
	MaxAge time.Duration
	// Replicas of the bucket's stream (1 for a single server).
	Replicas int
	// Attempts bounds the compare-and-set tries of one key in one flush.
	Attempts int
}

// DefaultStoreConfig keeps a bit more than a year, for yearly bills.
func DefaultStoreConfig() StoreConfig {
	return StoreConfig{Bucket: protocol.UsageBucket, MaxAge: 400 * 24 * time.Hour, Replicas: 1, Attempts: 20}
}

// Validate reports a config that cannot work.
func (c StoreConfig) Validate() error {
	switch {
	case c.Bucket == "":
		return errors.New("usage: the key-value bucket name is required")
	case c.MaxAge < time.Hour:
		return errors.New("usage: max age must be at least an hour")
	case c.Attempts < 1:
		return errors.New("usage: attempts must be at least 1")
	}
	return nil
}

// Store keeps usage sums in a JetStream key-value bucket: one key per owner
// and minute (<owner>.<YYYYMMDD>.<HHMM>), whose value holds the minute's
// sums by bucket and command. Writers update a key with compare-and-set and
// retry on a conflict, so concurrent flushes of several gateways lose
// nothing; each value also remembers the last flush of each writer it
// holds, so a flush retried after a lost answer is not counted twice.
type Store struct {
	cfg StoreConfig
	kv  jetstream.KeyValue
}

// OpenStore opens the bucket, creating it on first use.
func OpenStore(ctx context.Context, js jetstream.JetStream, cfg StoreConfig) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: cfg.Bucket, Description: "ufop usage sums by owner and minute (SPEC §14)",
		History: 1, TTL: cfg.MaxAge, Storage: jetstream.FileStorage, Replicas: max(1, cfg.Replicas),
	})
	if err != nil {
		return nil, fmt.Errorf("usage: key-value bucket %s: %w", cfg.Bucket, err)
	}
	return &Store{cfg: cfg, kv: kv}, nil
}

// record is the stored value of one owner's minute.
type record struct {
	Rows []recordRow `json:"rows"`
	// Applied holds, per writer, the sequence number of the last flush
	// added to this record.
	Applied map[string]uint64 `json:"applied"`
}

type recordRow struct {
	Bucket string `json:"bucket"`
	Cmd    string `json:"cmd"`
	Counts
}

func (r *record) add(bucket, cmd string, c Counts) {
	for i := range r.Rows {
		if r.Rows[i].Bucket == bucket && r.Rows[i].Cmd == cmd {
			r.Rows[i].Add(c)
			return
		}
	}
	r.Rows = append(r.Rows, recordRow{Bucket: bucket, Cmd: cmd, Counts: c})
}

const keyLayout = "20060102.1504"

// storeKey is the key of owner's minute.
func storeKey(owner string, minute int64) string {
	return owner + "." + time.Unix(minute*60, 0).UTC().Format(keyLayout)
}

// parseKey reads a key back: its owner and minute.
func parseKey(key string) (owner string, t time.Time, ok bool) {
	owner, rest, ok := strings.Cut(key, ".")
	if !ok {
		return "", time.Time{}, false
	}
	t, err := time.Parse(keyLayout, rest)
	return owner, t, err == nil
}

// Apply adds batch to the stored sums as flush seq of writer. Flushes of
// one writer must be applied in order; applying one again (after an error)
// adds only what did not land the first time.
func (s *Store) Apply(ctx context.Context, writer string, seq uint64, batch Batch) error {
	type ownerMinute struct {
		owner  string
		minute int64
	}
	groups := map[ownerMinute][]Key{}
	for k := range batch {
		om := ownerMinute{k.Owner, k.Minute}
		groups[om] = append(groups[om], k)
	}
	var errs []error
	for om, keys := range groups {
		if err := s.update(ctx, storeKey(om.owner, om.minute), writer, seq, func(r *record) {
			for _, k := range keys {
				r.add(k.Bucket, k.Cmd, batch[k])
			}
		}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// update applies change to key's record with compare-and-set, unless the
// record holds this flush already.
func (s *Store) update(ctx context.Context, key, writer string, seq uint64, change func(*record)) error {
	var last error
	for attempt := range s.cfg.Attempts {
		if attempt > 0 {
			// Writers that met on a key spread out before trying again.
			select {
			case <-ctx.Done():
				return fmt.Errorf("usage: update %s: %w (last error: %v)", key, ctx.Err(), last)
			case <-time.After(time.Duration(attempt) * 5 * time.Millisecond):
			}
		}
		var r record
		var rev uint64
		e, err := s.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			last = err
			continue
		default:
			if err := json.Unmarshal(e.Value(), &r); err != nil {
				return fmt.Errorf("usage: stored value of %s: %w", key, err)
			}
			rev = e.Revision()
		}
		if r.Applied[writer] >= seq {
			return nil
		}
		change(&r)
		if r.Applied == nil {
			r.Applied = map[string]uint64{}
		}
		r.Applied[writer] = seq
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = s.kv.Create(ctx, key, b)
		} else {
			_, err = s.kv.Update(ctx, key, b, rev)
		}
		if err == nil {
			return nil
		}
		// A conflict (another writer was first) or a lost answer: read
		// again; Applied tells whether this flush landed.
		last = err
	}
	return &ufop.Error{Kind: ufop.KindUnavailable, Msg: "usage: the usage store did not take an update", Err: fmt.Errorf("%s: %w", key, last)}
}

// chunkDays bounds the subject filters of one read.
const chunkDays = 16

// Query returns the stored minutes that f selects, sorted, one row per
// minute, owner, bucket and command (f.By is not applied: see Rollup).
func (s *Store) Query(ctx context.Context, f Filter) ([]Row, error) {
	owner := f.Owner
	if owner == "" {
		owner = "*"
	}
	var days []string
	for d := Day.Truncate(f.From); d.Before(f.To); d = d.AddDate(0, 0, 1) {
		days = append(days, owner+"."+d.Format("20060102")+".*")
	}
	var rows []Row
	for chunk := range slices.Chunk(days, chunkDays) {
		got, err := s.read(ctx, chunk, f)
		if err != nil {
			return nil, err
		}
		rows = append(rows, got...)
	}
	return Rollup(rows, Minute), nil
}

// read returns the rows of the keys matching filters that f selects.
func (s *Store) read(ctx context.Context, filters []string, f Filter) ([]Row, error) {
	w, err := s.kv.WatchFiltered(ctx, filters, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, &ufop.Error{Kind: ufop.KindUnavailable, Msg: "the usage store is not available", Err: err}
	}
	defer w.Stop()
	var rows []Row
	for {
		select {
		case <-ctx.Done():
			return nil, &ufop.Error{Kind: ufop.KindUnavailable, Msg: "reading usage took too long", Err: ctx.Err()}
		case e, ok := <-w.Updates():
			if !ok {
				return nil, &ufop.Error{Kind: ufop.KindUnavailable, Msg: "the usage store stopped answering"}
			}
			if e == nil { // every current value delivered
				return rows, nil
			}
			owner, t, ok := parseKey(e.Key())
			if !ok {
				continue
			}
			var r record
			if err := json.Unmarshal(e.Value(), &r); err != nil {
				return nil, fmt.Errorf("usage: stored value of %s: %w", e.Key(), err)
			}
			for _, rr := range r.Rows {
				row := Row{Time: t, Owner: owner, Bucket: rr.Bucket, Cmd: rr.Cmd, Counts: rr.Counts}
				if f.match(row) {
					rows = append(rows, row)
				}
			}
		}
	}
}
