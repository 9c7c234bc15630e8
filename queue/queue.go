// Package queue is the work queue between gateways and UFOP instances, on
// NATS JetStream. One stream holds the jobs of every UFOP, on subject
// <prefix><ufop>; each UFOP has one durable pull consumer that the agents
// hosting it share, so a job goes to exactly one agent at a time and comes
// back to another if its agent fails to acknowledge it. Jobs carry
// metadata and a source reference, never image bytes. Results go to the
// job's reply subject (small ones inline, large ones as a reference the
// gateway fetches from the agent).
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/protocol"
)

// Config configures the queue.
type Config struct {
	// Stream names the JetStream stream of jobs.
	Stream string
	// Subject is the subject prefix of jobs; a UFOP's jobs are
	// <Subject><name>.
	Subject string
	// Cancel is the subject on which gateways announce jobs whose client
	// is gone.
	Cancel string
	// Wake is the subject on which gateways ask for an instance of a UFOP
	// at zero.
	Wake string
	// MaxAge drops jobs nobody took.
	MaxAge time.Duration
	// AckWait is how long a job may run before JetStream gives it to
	// another agent (agents extend it while they work).
	AckWait time.Duration
	// MaxDeliver bounds the attempts of one job.
	MaxDeliver int
	// InlineLimit is the largest result sent in the reply message itself.
	InlineLimit int
	// Replicas of the stream (1 for a single server).
	Replicas int
	// Token authenticates to a NATS server that requires one (ufopd's
	// embedded and standalone servers do).
	Token string
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Stream: protocol.JobStream, Subject: protocol.JobSubjectPrefix, Cancel: protocol.CancelSubject, Wake: protocol.WakeSubject, MaxAge: 10 * time.Minute,
		AckWait: 15 * time.Second, MaxDeliver: 3, InlineLimit: 768 << 10, Replicas: 1}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Stream == "" || c.Subject == "" || c.Cancel == "" || c.Wake == "":
		return errors.New("queue: stream, subject, cancel and wake subjects are required")
	case c.MaxAge <= 0 || c.AckWait <= 0:
		return errors.New("queue: max age and ack wait must be positive")
	case c.MaxDeliver < 1:
		return errors.New("queue: max deliver must be at least 1")
	case c.InlineLimit < 1<<10:
		return errors.New("queue: inline limit must be at least 1 KiB")
	}
	return nil
}

// Queue is a connection to the job queue.
type Queue struct {
	cfg     Config
	nc      *nats.Conn
	js      jetstream.JetStream
	logger  *slog.Logger
	replies replies
}

// Connect connects to NATS at urls (comma-separated) and makes sure the
// stream exists.
func Connect(ctx context.Context, urls string, cfg Config, logger *slog.Logger) (*Queue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// NATS may still be starting (roles start in any order): try until
	// ctx ends.
	var nc *nats.Conn
	for {
		var err error
		opts := []nats.Option{nats.Name("ufop"), nats.MaxReconnects(-1), nats.ReconnectWait(200 * time.Millisecond)}
		if cfg.Token != "" {
			opts = append(opts, nats.Token(cfg.Token))
		}
		nc, err = nats.Connect(urls, opts...)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("queue: connect %s: %w", urls, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("queue: jetstream: %w", err)
	}
	// JetStream answers a moment after the server accepts connections.
	for {
		_, err = js.CreateOrUpdateStream(ctx, streamConfig(cfg))
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("queue: stream %s: %w", cfg.Stream, err)
	}
	return &Queue{cfg: cfg, nc: nc, js: js, logger: logger}, nil
}

func streamConfig(cfg Config) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:      cfg.Stream,
		Subjects:  []string{cfg.Subject + ">"},
		Retention: jetstream.WorkQueuePolicy,
		MaxAge:    cfg.MaxAge,
		Storage:   jetstream.FileStorage,
		Replicas:  cfg.Replicas,
		// Two gateways publishing one job (a client retry) keep one.
		Duplicates: time.Minute,
	}
}

// Config returns the queue's configuration.
func (q *Queue) Config() Config { return q.cfg }

// Conn is the underlying NATS connection.
func (q *Queue) Conn() *nats.Conn { return q.nc }

// Close closes the connection; safe to call more than once.
func (q *Queue) Close() { q.nc.Close() }

func consumerName(ufopName string) string { return protocol.ConsumerName(ufopName) }

// Publish enqueues a job for the UFOP name.
func (q *Queue) Publish(ctx context.Context, name string, job ufop.Job) error {
	b, err := marshalJob(job)
	if err != nil {
		return err
	}
	if _, err := q.js.Publish(ctx, protocol.JobSubject(q.cfg.Subject, name), b, jetstream.WithMsgID(job.ID)); err != nil {
		return &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: time.Second, Msg: "the job queue is not available", Err: err}
	}
	return nil
}

func marshalJob(job ufop.Job) ([]byte, error) {
	b, err := json.Marshal(job)
	if err != nil {
		return nil, fmt.Errorf("queue: encode job %s: %w", job.ID, err)
	}
	return b, nil
}

// Consumer returns the shared consumer of a UFOP's jobs, creating it on
// first use.
func (q *Queue) Consumer(ctx context.Context, name string) (jetstream.Consumer, error) {
	c, err := q.js.CreateOrUpdateConsumer(ctx, q.cfg.Stream, jetstream.ConsumerConfig{
		Durable:       consumerName(name),
		FilterSubject: protocol.JobSubject(q.cfg.Subject, name),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       q.cfg.AckWait,
		MaxDeliver:    q.cfg.MaxDeliver,
		MaxAckPending: 10000,
	})
	if err != nil {
		return nil, fmt.Errorf("queue: consumer of %s: %w", name, err)
	}
	return c, nil
}

// Depth returns a UFOP's jobs waiting (not yet taken by an agent) and in
// flight (taken, not yet acknowledged). A UFOP without a consumer yet has
// its jobs counted from the stream.
func (q *Queue) Depth(ctx context.Context, name string) (waiting, inflight int, err error) {
	c, err := q.js.Consumer(ctx, q.cfg.Stream, consumerName(name))
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		s, err := q.js.Stream(ctx, q.cfg.Stream)
		if err != nil {
			return 0, 0, fmt.Errorf("queue: stream: %w", err)
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(protocol.JobSubject(q.cfg.Subject, name)))
		if err != nil {
			return 0, 0, fmt.Errorf("queue: stream info: %w", err)
		}
		return int(info.State.Subjects[q.cfg.Subject+name]), 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("queue: consumer of %s: %w", name, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("queue: consumer info of %s: %w", name, err)
	}
	return int(info.NumPending), info.NumAckPending, nil
}

// DeleteConsumer removes a UFOP's consumer (and so drops nothing: the jobs
// stay in the stream until MaxAge).
func (q *Queue) DeleteConsumer(ctx context.Context, name string) error {
	err := q.js.DeleteConsumer(ctx, q.cfg.Stream, consumerName(name))
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil
	}
	return err
}

// Headers of result messages.
const (
	hdrKind        = "Ufop-Error-Kind"
	hdrRetry       = "Ufop-Retry-After"
	hdrContentType = "Content-Type"
	hdrFetch       = "Ufop-Fetch"
	hdrPrefix      = "X-Ufop-"
)

// Result is a job's outcome as the gateway receives it.
type Result struct {
	Body        []byte
	ContentType string
	// Header holds the X-Ufop-* headers for the client.
	Header map[string]string
	// Fetch, when set, is where to GET a result too large to travel in
	// the reply (with the cluster token).
	Fetch string
	// Err is the job's error, with its kind.
	Err error
}

// Reply sends a job's result to its reply subject.
func (q *Queue) Reply(job ufop.Job, res Result) error {
	m := nats.NewMsg(job.Reply)
	if res.Err != nil {
		m.Header.Set(hdrKind, ufop.KindOf(res.Err).String())
		if ra := ufop.RetryAfterOf(res.Err); ra > 0 {
			m.Header.Set(hdrRetry, strconv.Itoa(int(ra/time.Second)))
		}
		m.Data = []byte(ufop.Message(res.Err))
		return q.nc.PublishMsg(m)
	}
	m.Header.Set(hdrContentType, res.ContentType)
	for k, v := range res.Header {
		if strings.HasPrefix(k, hdrPrefix) || k == protocol.HeaderTiming {
			m.Header.Set(k, v)
		}
	}
	if res.Fetch != "" {
		m.Header.Set(hdrFetch, res.Fetch)
	} else {
		m.Data = res.Body
	}
	return q.nc.PublishMsg(m)
}

// Cancel tells the agents that nobody waits for job id any more.
func (q *Queue) Cancel(id string) { q.nc.Publish(q.cfg.Cancel, []byte(id)) }

// Wake asks the scaler for an instance of name, a UFOP at zero that a job
// was just published for. Best effort: the scaler's next pass sees the
// job anyway.
func (q *Queue) Wake(name string) { q.nc.Publish(q.cfg.Wake, []byte(name)) }

// Wakes calls fn with the name of every UFOP a gateway asks an instance
// of, until the returned function is called.
func (q *Queue) Wakes(fn func(name string)) (stop func(), err error) {
	sub, err := q.nc.Subscribe(q.cfg.Wake, func(m *nats.Msg) { fn(string(m.Data)) })
	if err != nil {
		return nil, fmt.Errorf("queue: subscribe %s: %w", q.cfg.Wake, err)
	}
	return func() { sub.Unsubscribe() }, nil
}

// Cancellations calls fn with the id of every canceled job until the
// returned function is called.
func (q *Queue) Cancellations(fn func(id string)) (stop func(), err error) {
	sub, err := q.nc.Subscribe(q.cfg.Cancel, func(m *nats.Msg) { fn(string(m.Data)) })
	if err != nil {
		return nil, fmt.Errorf("queue: subscribe %s: %w", q.cfg.Cancel, err)
	}
	return func() { sub.Unsubscribe() }, nil
}
