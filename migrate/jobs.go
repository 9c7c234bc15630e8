package migrate

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/protocol"
)

// Job is a migration's record in etcd.
type Job struct {
	Name    string `json:"name"`
	From    string `json:"from"`
	To      string `json:"to"`
	Owner   string `json:"owner"`
	Workers int    `json:"workers"`
	State   string `json:"state"`
	Error   string `json:"error,omitempty"`
	// AccessKey and SecretKey are an s3:// source's credentials; they are
	// never shown (etcd is the platform's secret store, behind its own
	// credentials).
	AccessKey string `json:"access_key,omitempty"`
	SecretKey string `json:"secret_key,omitempty"`
	// Run counts the starts of this name; keys, checkpoints and counters
	// of an earlier run are ignored.
	Run     int64     `json:"run"`
	Started time.Time `json:"started"`
}

// Cursor is the lister's checkpoint: the position after the last page
// that is in the queue, and how many keys that was.
type Cursor struct {
	Run    int64  `json:"run"`
	Pos    string `json:"pos"`
	Listed int64  `json:"listed"`
	// Skipped counts keys the lister found the same in the target (so
	// never queued), checkpointed with the position: counted once.
	Skipped int64 `json:"skipped,omitempty"`
	Done    bool  `json:"done"`
}

// MaxFailures bounds the failed keys kept with their reasons.
const MaxFailures = 100

// Progress counts the outcomes of a run's keys.
type Progress struct {
	Run      int64                     `json:"run"`
	Copied   int64                     `json:"copied"`
	Skipped  int64                     `json:"skipped"`
	Failed   int64                     `json:"failed"`
	Bytes    int64                     `json:"bytes"`
	Failures []protocol.MigrateFailure `json:"failures,omitempty"`
}

func (p *Progress) add(d Progress) {
	p.Copied += d.Copied
	p.Skipped += d.Skipped
	p.Failed += d.Failed
	p.Bytes += d.Bytes
	for _, f := range d.Failures {
		if len(p.Failures) < MaxFailures {
			p.Failures = append(p.Failures, f)
		}
	}
}

// Jobs is the job state in etcd.
type Jobs struct {
	cli    *clientv3.Client
	prefix string
}

// NewJobs keeps jobs under prefix (protocol.MigratePrefix in a
// deployment).
func NewJobs(cli *clientv3.Client, prefix string) *Jobs { return &Jobs{cli: cli, prefix: prefix} }

func unavailable(err error) error {
	return &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: time.Second, Msg: "the migration state (etcd) is not available", Err: err}
}

func noSuchJob(name string) error {
	return ufop.Errorf(ufop.KindNotFound, "no such migration %q", name)
}

// ValidName checks a job name: 1 to 63 of a-z, 0-9, '-' and '_' (it
// becomes a NATS subject and consumer name).
func ValidName(name string) error {
	if len(name) < 1 || len(name) > 63 {
		return ufop.Errorf(ufop.KindInvalid, "migration name %q: must be 1 to 63 characters long", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return ufop.Errorf(ufop.KindInvalid, "migration name %q: use only a-z, 0-9, '-' and '_'", name)
		}
	}
	return nil
}

// Get returns job name and its record's revision.
func (j *Jobs) Get(ctx context.Context, name string) (Job, int64, error) {
	var job Job
	rev, ok, err := j.get(ctx, protocol.MigrateJobKey(j.prefix, name), &job)
	if err != nil {
		return job, 0, err
	}
	if !ok {
		return job, 0, noSuchJob(name)
	}
	return job, rev, nil
}

func (j *Jobs) get(ctx context.Context, key string, v any) (rev int64, ok bool, err error) {
	resp, err := j.cli.Get(ctx, key)
	if err != nil {
		return 0, false, unavailable(err)
	}
	if len(resp.Kvs) == 0 {
		return 0, false, nil
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, v); err != nil {
		return 0, false, fmt.Errorf("migrate: %s: %w", key, err)
	}
	return resp.Kvs[0].ModRevision, true, nil
}

// List returns every job, by name.
func (j *Jobs) List(ctx context.Context) ([]Job, error) {
	resp, err := j.cli.Get(ctx, protocol.MigrateJobsPrefix(j.prefix), clientv3.WithPrefix())
	if err != nil {
		return nil, unavailable(err)
	}
	out := make([]Job, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var job Job
		if json.Unmarshal(kv.Value, &job) == nil {
			out = append(out, job)
		}
	}
	return out, nil
}

// Start records a new run of job: the first, or the next after a run that
// is done or failed (KindConflict while one runs or is paused). The
// checkpoint and counters start again from zero; the copies skip what the
// target already has.
func (j *Jobs) Start(ctx context.Context, job Job) (Job, error) {
	key := protocol.MigrateJobKey(j.prefix, job.Name)
	old, rev, err := j.Get(ctx, job.Name)
	switch {
	case ufop.KindOf(err) == ufop.KindNotFound:
		rev = 0
	case err != nil:
		return job, err
	case old.State == protocol.MigrateRunning || old.State == protocol.MigratePaused:
		return job, ufop.Errorf(ufop.KindConflict, "migration %q is %s; pause, wait for it or rm it first", job.Name, old.State)
	case old.Owner != job.Owner:
		return job, ufop.Errorf(ufop.KindConflict, "migration name %q is taken by another user", job.Name)
	default:
		job.Run = old.Run
	}
	job.Run++
	job.State = protocol.MigrateRunning
	job.Error = ""
	job.Started = time.Now().UTC()
	jb, _ := json.Marshal(job)
	cb, _ := json.Marshal(Cursor{Run: job.Run})
	pb, _ := json.Marshal(Progress{Run: job.Run})
	resp, err := j.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).Then(
		clientv3.OpPut(key, string(jb)),
		clientv3.OpPut(protocol.MigrateCursorKey(j.prefix, job.Name), string(cb)),
		clientv3.OpPut(protocol.MigrateProgressKey(j.prefix, job.Name), string(pb)),
	).Commit()
	if err != nil {
		return job, unavailable(err)
	}
	if !resp.Succeeded {
		return job, ufop.Errorf(ufop.KindConflict, "migration %q was started at the same time by another request", job.Name)
	}
	return job, nil
}

// SetState moves job name of run (0: any) from one of states to state,
// with errMsg for a failed job. It returns KindConflict when the job is
// in none of from.
func (j *Jobs) SetState(ctx context.Context, name string, run int64, from []string, state, errMsg string) (Job, error) {
	for {
		job, rev, err := j.Get(ctx, name)
		if err != nil {
			return job, err
		}
		if (run != 0 && job.Run != run) || !slices.Contains(from, job.State) {
			return job, ufop.Errorf(ufop.KindConflict, "migration %q is %s", name, job.State)
		}
		job.State, job.Error = state, errMsg
		b, _ := json.Marshal(job)
		key := protocol.MigrateJobKey(j.prefix, name)
		resp, err := j.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, string(b))).Commit()
		if err != nil {
			return job, unavailable(err)
		}
		if resp.Succeeded {
			return job, nil
		}
	}
}

// Delete removes job name's record, checkpoint and counters.
func (j *Jobs) Delete(ctx context.Context, name string) error {
	_, err := j.cli.Txn(ctx).Then(
		clientv3.OpDelete(protocol.MigrateJobKey(j.prefix, name)),
		clientv3.OpDelete(protocol.MigrateCursorKey(j.prefix, name)),
		clientv3.OpDelete(protocol.MigrateProgressKey(j.prefix, name)),
	).Commit()
	if err != nil {
		return unavailable(err)
	}
	return nil
}

// Cursor returns job name's checkpoint and its revision.
func (j *Jobs) Cursor(ctx context.Context, name string) (Cursor, int64, error) {
	var c Cursor
	rev, _, err := j.get(ctx, protocol.MigrateCursorKey(j.prefix, name), &c)
	return c, rev, err
}

// SaveCursor moves the checkpoint from revision rev (what the lister
// read) to c; it fails with KindConflict when someone else moved it.
func (j *Jobs) SaveCursor(ctx context.Context, name string, rev int64, c Cursor) (int64, error) {
	key := protocol.MigrateCursorKey(j.prefix, name)
	b, _ := json.Marshal(c)
	resp, err := j.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpPut(key, string(b))).Commit()
	if err != nil {
		return 0, unavailable(err)
	}
	if !resp.Succeeded {
		return 0, ufop.Errorf(ufop.KindConflict, "migration %q: the checkpoint moved under the lister", name)
	}
	return resp.Header.Revision, nil
}

// AddProgress adds the counts d to job name's run d.Run; counts of
// another run are dropped.
func (j *Jobs) AddProgress(ctx context.Context, name string, d Progress) error {
	key := protocol.MigrateProgressKey(j.prefix, name)
	for {
		var p Progress
		rev, ok, err := j.get(ctx, key, &p)
		if err != nil {
			return err
		}
		if !ok || p.Run != d.Run {
			return nil
		}
		p.add(d)
		b, _ := json.Marshal(p)
		resp, err := j.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, string(b))).Commit()
		if err != nil {
			return unavailable(err)
		}
		if resp.Succeeded {
			return nil
		}
	}
}

// Status reads job name's record, checkpoint and counters at one
// revision.
func (j *Jobs) Status(ctx context.Context, name string) (protocol.MigrateStatus, Job, error) {
	resp, err := j.cli.Txn(ctx).Then(
		clientv3.OpGet(protocol.MigrateJobKey(j.prefix, name)),
		clientv3.OpGet(protocol.MigrateCursorKey(j.prefix, name)),
		clientv3.OpGet(protocol.MigrateProgressKey(j.prefix, name)),
	).Commit()
	if err != nil {
		return protocol.MigrateStatus{}, Job{}, unavailable(err)
	}
	var job Job
	var c Cursor
	var p Progress
	for i, v := range []any{&job, &c, &p} {
		kvs := resp.Responses[i].GetResponseRange().Kvs
		if len(kvs) == 0 {
			if i == 0 {
				return protocol.MigrateStatus{}, job, noSuchJob(name)
			}
			continue
		}
		json.Unmarshal(kvs[0].Value, v)
	}
	return StatusOf(job, c, p), job, nil
}

// StatusOf is what `migrate status` shows of a job.
func StatusOf(job Job, c Cursor, p Progress) protocol.MigrateStatus {
	s := protocol.MigrateStatus{Name: job.Name, State: job.State, From: job.From, To: job.To, Owner: job.Owner,
		Workers: job.Workers, Error: job.Error, Started: job.Started.Format(time.RFC3339)}
	if c.Run == job.Run {
		s.Listed, s.ListingDone = c.Listed, c.Done
	}
	if p.Run == job.Run {
		s.Copied, s.Skipped, s.Failed, s.Bytes, s.Failures = p.Copied, p.Skipped, p.Failed, p.Bytes, p.Failures
	}
	if c.Run == job.Run {
		s.Skipped += c.Skipped
	}
	return s
}
