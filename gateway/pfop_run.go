package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/egress"
	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/queue"
	"github.com/ufop/ufop/storage"
)

// How a job runs (docs/pfop.md): its items one after another, each
// through process (the synchronous path's code), its result stored with
// one atomic Put. Exactly one write per item, whatever dies when: before
// the Put the item records the ETag it is about to write (Writing); a
// worker that finds such a record after a crash looks at the target, and
// an object there with that ETag means the write happened, so the item is
// done without writing again. Every state change is a compare-and-swap on
// the job's KV entry, so a worker that lost the job to another (a stall
// past AckWait) stops at its next change instead of writing.

// errLostJob: the job's state changed under this worker.
var errLostJob = errors.New("gateway: pfop job taken over by another worker")

// pfopRun is one delivery of a job being worked on.
type pfopRun struct {
	g   *Gateway
	job pfopJob
	rev uint64
}

// save writes the job's state if nobody else changed it meanwhile.
func (r *pfopRun) save(ctx context.Context) error {
	data, err := json.Marshal(r.job)
	if err != nil {
		return err
	}
	rev, err := r.g.pfop.UpdateState(context.WithoutCancel(ctx), r.job.ID, data, r.rev)
	if errors.Is(err, queue.ErrStateConflict) {
		return errLostJob
	}
	if err != nil {
		return err
	}
	r.rev = rev
	return nil
}

// servePfop runs pfop jobs until ctx ends.
func (g *Gateway) servePfop(ctx context.Context) {
	if g.cfg.Pfop.Workers == 0 {
		return
	}
	if err := g.pfop.Serve(ctx, g.cfg.Pfop.Workers, g.handlePfop); err != nil {
		g.logger.Error("pfop workers stopped", "err", err)
	}
}

// handlePfop runs one delivery of a job.
func (g *Gateway) handlePfop(ctx context.Context, d *queue.Delivery) {
	id := string(d.Data())
	data, rev, err := g.pfop.State(ctx, id)
	if ufop.KindOf(err) == ufop.KindNotFound {
		d.Ack() // expired or never recorded: nothing to do
		return
	}
	if err != nil {
		d.Nak(time.Second)
		return
	}
	r := &pfopRun{g: g, rev: rev}
	if err := json.Unmarshal(data, &r.job); err != nil {
		g.logger.Error("pfop state unreadable, job dropped", "id", id, "err", err)
		d.Ack()
		return
	}
	err = r.run(ctx)
	switch {
	case err == nil:
		d.Ack()
	case errors.Is(err, errLostJob):
		// Another worker holds a newer delivery and will finish.
		g.logger.Info("pfop job taken over", "id", id)
	case ctx.Err() != nil:
		// Stopping: hand the job to another worker at once.
		d.Nak(0)
	default:
		g.logger.Warn("pfop job interrupted", "id", id, "err", err)
		d.Nak(time.Second)
	}
}

// run takes the job from wherever it stands to the end.
func (r *pfopRun) run(ctx context.Context) error {
	j := &r.job
	if j.Notified {
		return nil
	}
	if !r.itemsOver() {
		j.Started++
		if j.Started > r.g.cfg.Pfop.MaxAttempts {
			for i := range j.Items {
				if it := &j.Items[i]; it.Code != pfopDone && it.Code != pfopFailed {
					it.Code, it.Error = pfopFailed, fmt.Sprintf("the job was interrupted %d times", j.Started-1)
				}
			}
		}
		j.Code = pfopProcessing
		if err := r.save(ctx); err != nil {
			return err
		}
		for i := range j.Items {
			if c := j.Items[i].Code; c == pfopDone || c == pfopFailed {
				continue
			}
			if err := r.runItem(ctx, i); err != nil {
				return err
			}
		}
		j.Code = pfopDone
		for _, it := range j.Items {
			if it.Code == pfopFailed {
				j.Code = pfopFailed
			}
		}
		if j.NotifyURL == "" {
			j.Notified = true
		}
		if err := r.save(ctx); err != nil {
			return err
		}
		if j.NotifyURL == "" {
			return nil
		}
	}
	return r.notify(ctx)
}

func (r *pfopRun) itemsOver() bool {
	return r.job.Code == pfopDone || r.job.Code == pfopFailed || r.job.Code == pfopNotifyFailed
}

// runItem processes item i and stores its result once.
func (r *pfopRun) runItem(ctx context.Context, i int) error {
	g, j := r.g, &r.job
	it, w := &j.Items[i], &j.Work[i]
	if w.Writing != "" {
		// A worker died around its Put: the object says whether it
		// happened.
		obj, err := g.store.Stat(ctx, w.Bucket, w.Key)
		if err == nil && obj.ETag == w.Writing {
			it.Code, it.Hash, it.Error, w.Writing = pfopDone, obj.ETag, "", ""
			return r.save(ctx)
		}
		if err != nil && ufop.KindOf(err) != ufop.KindNotFound {
			return err
		}
	}
	fail := func(err error) error {
		it.Code, it.Error, w.Writing = pfopFailed, ufop.Message(err), ""
		return r.save(ctx)
	}
	p, err := fop.Parse(w.Fops, 0)
	if err != nil {
		return fail(err)
	}
	var res *result
	for wait, start := 100*time.Millisecond, time.Now(); ; wait = min(2*wait, 2*time.Second) {
		res, err = r.process(ctx, p, w.Refs, i)
		if err == nil || ctx.Err() != nil {
			break
		}
		// No capacity now (no agent, full queues): wait for it, a while.
		if k := ufop.KindOf(err); (k != ufop.KindUnavailable && k != ufop.KindRateLimited) || time.Since(start) > g.cfg.Pfop.RetryFor {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(jitter(wait)):
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return fail(err)
	}
	sum := sha256.Sum256(res.body)
	w.Writing = hex.EncodeToString(sum[:])
	if err := r.save(ctx); err != nil {
		return err
	}
	obj, err := g.store.Put(ctx, w.Bucket, w.Key, bytes.NewReader(res.body), storage.PutOptions{ContentType: res.contentType})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fail(fmt.Errorf("gateway: pfop result %s/%s: %w", w.Bucket, w.Key, err))
	}
	it.Code, it.Hash, it.Error, w.Writing = pfopDone, obj.ETag, "", ""
	return r.save(ctx)
}

// process runs item i's pipeline on the job's source as a synchronous
// GET would, with the reads checked at submit time.
func (r *pfopRun) process(ctx context.Context, p fop.Pipeline, refs map[string]ufop.ObjectRef, i int) (*result, error) {
	g, j := r.g, &r.job
	b, err := g.cat.Bucket(j.InputBucket)
	if err != nil {
		return nil, err
	}
	obj, err := g.store.Stat(ctx, b.Name, j.InputKey)
	if err != nil {
		return nil, err
	}
	custom, err := g.ufopSteps(p, b.Owner)
	if err != nil {
		return nil, err
	}
	// Unique per try: the UFOP queue drops a job id it saw within a minute.
	reqid := j.ID + "." + strconv.Itoa(i) + "." + newReqid()
	return g.process(ctx, b, obj, p, custom, refs, reqid)
}

// jitter spreads d over [d/2, d).
func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// notify POSTs the status to the job's notify URL, signed with the bucket
// owner's key, retried with backoff until a 2xx or NotifyFor since it
// began (across restarts); then the job's code becomes 4. A URL the
// egress policy refuses is not retried.
func (r *pfopRun) notify(ctx context.Context) error {
	g, j, cfg := r.g, &r.job, r.g.cfg.Pfop
	if j.NotifyStarted.IsZero() {
		j.NotifyStarted = time.Now().UTC()
		if err := r.save(ctx); err != nil {
			return err
		}
	}
	body, err := json.Marshal(j.status())
	if err != nil {
		return err
	}
	authz, err := g.ownerSignature(j.Owner, body)
	if err != nil {
		return r.notifyOver(ctx, err)
	}
	deadline := j.NotifyStarted.Add(cfg.NotifyFor)
	for delay := cfg.NotifyFirstDelay; ; delay = min(2*delay, cfg.NotifyMaxDelay) {
		err = g.postNotify(ctx, j.NotifyURL, authz, body)
		if err == nil {
			return r.notifyOver(ctx, nil)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := jitter(delay)
		if egress.IsRefused(err) || time.Now().Add(wait).After(deadline) {
			return r.notifyOver(ctx, err)
		}
		g.logger.Info("pfop notify failed, retrying", "id", j.ID, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (r *pfopRun) notifyOver(ctx context.Context, err error) error {
	r.job.Notified = true
	if err != nil {
		r.g.logger.Warn("pfop notify gave up", "id", r.job.ID, "url", r.job.NotifyURL, "err", err)
		r.job.Code = pfopNotifyFailed
	}
	return r.save(ctx)
}

// ownerSignature is "UFOP <AK>:<b64 hmac_sha1(SK, body)>" with the owner's
// newest key.
func (g *Gateway) ownerSignature(owner string, body []byte) (string, error) {
	u, err := g.cat.User(owner)
	if err != nil {
		return "", err
	}
	if len(u.Keys) == 0 {
		return "", ufop.Errorf(ufop.KindPermission, "user %q has no key to sign the notification", owner)
	}
	_, sk, err := g.cat.LookupKey(u.Keys[0])
	if err != nil {
		return "", err
	}
	m := hmac.New(sha1.New, []byte(sk))
	m.Write(body)
	return "UFOP " + u.Keys[0] + ":" + base64.URLEncoding.EncodeToString(m.Sum(nil)), nil
}

func (g *Gateway) postNotify(ctx context.Context, url, authz string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Pfop.NotifyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return ufop.Errorf(ufop.KindInvalid, "notifyURL %q: %v", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", authz)
	resp, err := g.notifyClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return ufop.Errorf(ufop.KindUpstream, "notifyURL answered %s", resp.Status)
	}
	return nil
}
