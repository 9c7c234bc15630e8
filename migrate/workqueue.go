package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/protocol"
)

// WorkQueue is the JetStream side of migrations: the work-queue stream of
// keys (one subject and one durable consumer per job) and the object
// store of key lists.
type WorkQueue struct {
	js      jetstream.JetStream
	lists   jetstream.ObjectStore
	ackWait time.Duration
}

// defaultAckWait is how long a key may stay unacknowledged before
// JetStream gives it to another worker; workers signal progress while they
// copy and retry.
const defaultAckWait = 10 * time.Second

// NewWorkQueue makes sure the stream and the list store exist. NATS may
// still be starting: it tries until ctx ends.
func NewWorkQueue(ctx context.Context, nc *nats.Conn) (*WorkQueue, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("migrate: jetstream: %w", err)
	}
	for {
		_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:      protocol.MigrateStream,
			Subjects:  []string{protocol.MigrateSubjectPrefix + ">"},
			Retention: jetstream.WorkQueuePolicy,
			Storage:   jetstream.FileStorage,
			// A lister restarted mid-page publishes the page again: the
			// stream keeps one copy of each key it saw lately.
			Duplicates: 2 * time.Minute,
		})
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("migrate: stream %s: %w", protocol.MigrateStream, err)
	}
	lists, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: protocol.MigrateListBucket, Storage: jetstream.FileStorage})
	if err != nil {
		return nil, fmt.Errorf("migrate: list store: %w", err)
	}
	return &WorkQueue{js: js, lists: lists, ackWait: defaultAckWait}, nil
}

func msgID(name string, run int64, key string) string {
	h := sha256.Sum256([]byte(key))
	return name + "/" + strconv.FormatInt(run, 10) + "/" + hex.EncodeToString(h[:12])
}

// Headers of a queued key: the run it belongs to, and what the listing
// said of it.
const (
	headerRun  = "Ufop-Migrate-Run"
	headerSize = "Ufop-Migrate-Size"
	headerETag = "Ufop-Migrate-Etag"
	headerHint = "Ufop-Migrate-Hint"
)

// entryOf reads a queued key back.
func entryOf(m jetstream.Msg) (run int64, e Entry) {
	h := m.Headers()
	run, _ = strconv.ParseInt(h.Get(headerRun), 10, 64)
	size, err := strconv.ParseInt(h.Get(headerSize), 10, 64)
	if err != nil {
		size = -1
	}
	e = Entry{Key: string(m.Data()), Size: size, ETag: h.Get(headerETag), Hint: h.Get(headerHint)}
	// The hint holds for the first delivery only: a redelivered key may
	// have been copied by the worker that died.
	if md, err := m.Metadata(); err != nil || md.NumDelivered > 1 {
		e.Hint = ""
	}
	return run, e
}

// Publish queues entries of job name's run and waits until the stream
// has them all.
func (q *WorkQueue) Publish(ctx context.Context, name string, run int64, entries []Entry) error {
	futs := make([]jetstream.PubAckFuture, 0, len(entries))
	subj := protocol.MigrateSubject(name)
	for _, e := range entries {
		m := nats.NewMsg(subj)
		// The key travels as raw bytes: JSON would mend invalid UTF-8,
		// and such a key must fail as itself.
		m.Data = []byte(e.Key)
		m.Header.Set(headerRun, strconv.FormatInt(run, 10))
		m.Header.Set(headerSize, strconv.FormatInt(e.Size, 10))
		if e.ETag != "" {
			m.Header.Set(headerETag, e.ETag)
		}
		if e.Hint != "" {
			m.Header.Set(headerHint, e.Hint)
		}
		f, err := q.js.PublishMsgAsync(m, jetstream.WithMsgID(msgID(name, run, e.Key)))
		if err != nil {
			return unavailableQ(err)
		}
		futs = append(futs, f)
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return unavailableQ(err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func unavailableQ(err error) error {
	return &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: time.Second, Msg: "the migration queue (NATS) is not available", Err: err}
}

// Consumer returns the durable consumer of job name's keys. maxPending
// bounds the keys handed out and not yet acknowledged.
func (q *WorkQueue) Consumer(ctx context.Context, name string, maxPending int) (jetstream.Consumer, error) {
	c, err := q.js.CreateOrUpdateConsumer(ctx, protocol.MigrateStream, jetstream.ConsumerConfig{
		Durable:       protocol.MigrateConsumer(name),
		FilterSubject: protocol.MigrateSubject(name),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       q.ackWait,
		MaxAckPending: maxPending,
	})
	if err != nil {
		return nil, unavailableQ(err)
	}
	return c, nil
}

// Depth returns job name's keys waiting and handed out (unacknowledged).
func (q *WorkQueue) Depth(ctx context.Context, name string) (waiting, inflight int64, err error) {
	c, err := q.js.Consumer(ctx, protocol.MigrateStream, protocol.MigrateConsumer(name))
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		s, err := q.js.Stream(ctx, protocol.MigrateStream)
		if err != nil {
			return 0, 0, unavailableQ(err)
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(protocol.MigrateSubject(name)))
		if err != nil {
			return 0, 0, unavailableQ(err)
		}
		return int64(info.State.Subjects[protocol.MigrateSubject(name)]), 0, nil
	}
	if err != nil {
		return 0, 0, unavailableQ(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, 0, unavailableQ(err)
	}
	return int64(info.NumPending), int64(info.NumAckPending), nil
}

// Purge drops job name's queued keys and its consumer.
func (q *WorkQueue) Purge(ctx context.Context, name string) error {
	if err := q.js.DeleteConsumer(ctx, protocol.MigrateStream, protocol.MigrateConsumer(name)); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return unavailableQ(err)
	}
	s, err := q.js.Stream(ctx, protocol.MigrateStream)
	if err != nil {
		return unavailableQ(err)
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(protocol.MigrateSubject(name))); err != nil {
		return unavailableQ(err)
	}
	return nil
}

// PutList stores job name's key list (read from r to its end).
func (q *WorkQueue) PutList(ctx context.Context, name string, r io.Reader) error {
	if _, err := q.lists.Put(ctx, jetstream.ObjectMeta{Name: name}, r); err != nil {
		return unavailableQ(err)
	}
	return nil
}

// HasList reports whether job name has a key list.
func (q *WorkQueue) HasList(ctx context.Context, name string) (bool, error) {
	_, err := q.lists.GetInfo(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return false, nil
	}
	if err != nil {
		return false, unavailableQ(err)
	}
	return true, nil
}

// OpenList returns an opener of job name's key list.
func (q *WorkQueue) OpenList(name string) ListOpener {
	return func(ctx context.Context) (io.ReadCloser, error) {
		r, err := q.lists.Get(ctx, name)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return nil, ufop.Errorf(ufop.KindInvalid, "migration %q has no key list: an http(s) source needs --list FILE", name)
		}
		if err != nil {
			return nil, unavailableQ(err)
		}
		return r, nil
	}
}

// DeleteList removes job name's key list, if any.
func (q *WorkQueue) DeleteList(ctx context.Context, name string) error {
	if err := q.lists.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return unavailableQ(err)
	}
	return nil
}
