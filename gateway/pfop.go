package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/queue"
	"github.com/ufop/ufop/storage"
)

// Persistent processing (pfop, SPEC §13, docs/pfop.md): a signed request
// names a source and one or more pipelines; the gateway checks everything
// it can (the fops, every object read and written, the notify URL, the
// owner's rate limit), records the job's state in JetStream KV and queues
// it on the owner's pfop subject. Workers in every gateway take jobs
// fairly (queue.Pfop) and run each pipeline with the same code as a
// synchronous GET (process), then store the result (pfop_run.go).

// PfopConfig configures persistent processing.
type PfopConfig struct {
	// Workers is how many jobs this gateway runs at once (0: none; the
	// gateway still accepts jobs for others to run).
	Workers int
	// MaxPipelines bounds the pipelines of one job.
	MaxPipelines int
	// MaxAttempts is how many times a job is started before the items
	// still unfinished are failed (a job that keeps killing its worker).
	MaxAttempts int
	// RetryFor bounds how long an item waits for capacity (no agent, full
	// queues) before it fails.
	RetryFor time.Duration
	// NotifyFor is how long a notification is retried, with exponential
	// backoff from NotifyFirstDelay up to NotifyMaxDelay (with jitter),
	// until the notify URL answers 2xx; after that the job is code 4.
	NotifyFor        time.Duration
	NotifyFirstDelay time.Duration
	NotifyMaxDelay   time.Duration
	// NotifyTimeout bounds one notification attempt.
	NotifyTimeout time.Duration
	// Queue configures the pfop stream and state bucket.
	Queue queue.PfopConfig
}

// DefaultPfopConfig returns the defaults.
func DefaultPfopConfig() PfopConfig {
	return PfopConfig{Workers: 16, MaxPipelines: 20, MaxAttempts: 10, RetryFor: 5 * time.Minute,
		NotifyFor: 2 * time.Minute, NotifyFirstDelay: time.Second, NotifyMaxDelay: 30 * time.Second,
		NotifyTimeout: 10 * time.Second, Queue: queue.DefaultPfopConfig()}
}

// Validate reports a config that cannot work.
func (c PfopConfig) Validate() error {
	switch {
	case c.Workers < 0:
		return errors.New("gateway: pfop workers must not be negative")
	case c.MaxPipelines < 1 || c.MaxAttempts < 1:
		return errors.New("gateway: pfop max pipelines and max attempts must be at least 1")
	case c.RetryFor < 0 || c.NotifyFor <= 0 || c.NotifyFirstDelay <= 0 || c.NotifyMaxDelay < c.NotifyFirstDelay || c.NotifyTimeout <= 0:
		return errors.New("gateway: pfop notify durations must be positive, the max delay at least the first")
	}
	return c.Queue.Validate()
}

// Job and item codes (SPEC §13, as Qiniu's).
const (
	pfopDone         = 0
	pfopWaiting      = 1
	pfopProcessing   = 2
	pfopFailed       = 3
	pfopNotifyFailed = 4
)

var pfopDescs = map[int]string{
	pfopDone:         "The fop was completed successfully",
	pfopWaiting:      "The fop is waiting for execution",
	pfopProcessing:   "The fop is executing now",
	pfopFailed:       "The fop is failed",
	pfopNotifyFailed: "Callback failed",
}

// pfopStatus is the status JSON users see (GET /v1/pfop/ID, the notify
// body, Qiniu's prefop).
type pfopStatus struct {
	ID          string           `json:"id"`
	Code        int              `json:"code"`
	Desc        string           `json:"desc"`
	InputBucket string           `json:"inputBucket"`
	InputKey    string           `json:"inputKey"`
	Pipeline    string           `json:"pipeline,omitempty"`
	Reqid       string           `json:"reqid,omitempty"`
	Items       []pfopItemStatus `json:"items"`
}

type pfopItemStatus struct {
	Cmd   string `json:"cmd"`
	Code  int    `json:"code"`
	Desc  string `json:"desc"`
	Error string `json:"error,omitempty"`
	Key   string `json:"key,omitempty"`
	Hash  string `json:"hash,omitempty"`
}

// pfopJob is a job's whole state as kept in the KV bucket: the status and
// what the workers need.
type pfopJob struct {
	pfopStatus
	Owner     string     `json:"owner"`
	NotifyURL string     `json:"notifyURL,omitempty"`
	Created   time.Time  `json:"created"`
	Work      []pfopWork `json:"work"`
	// Started counts the job's starts by a worker.
	Started int `json:"started,omitempty"`
	// NotifyStarted is when notification began (its retries are bounded
	// from there, across restarts); Notified is set once it is over.
	NotifyStarted time.Time `json:"notifyStarted,omitzero"`
	Notified      bool      `json:"notified,omitempty"`
}

// pfopWork is what a worker needs for one item.
type pfopWork struct {
	// Fops is the normalized pipeline without saveas.
	Fops string `json:"fops"`
	// Bucket and Key are where the result goes.
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	// Refs are the other objects the pipeline reads, resolved and checked
	// against the submitter at submit time.
	Refs map[string]ufop.ObjectRef `json:"refs,omitempty"`
	// Writing is the ETag of a result being written to Bucket/Key: after
	// a crash, an object there with this ETag means the write happened.
	Writing string `json:"writing,omitempty"`
}

func (j *pfopJob) status() pfopStatus {
	s := j.pfopStatus
	s.Desc = pfopDescs[s.Code]
	s.Items = make([]pfopItemStatus, len(j.Items))
	for i, it := range j.Items {
		it.Desc = pfopDescs[it.Code]
		s.Items[i] = it
	}
	return s
}

// pfopRequest is a submission, from JSON or from Qiniu's form.
type pfopRequest struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	Fops      string `json:"fops"`
	NotifyURL string `json:"notifyURL,omitempty"`
	// Force and Pipeline are Qiniu's; accepted and ignored (results are
	// always written; there is one pool of workers).
	Force    string `json:"force,omitempty"`
	Pipeline string `json:"pipeline,omitempty"`
}

// parsePfopJSON parses the body of POST /v1/pfop.
func parsePfopJSON(body []byte) (pfopRequest, error) {
	var r pfopRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, ufop.Errorf(ufop.KindInvalid, "pfop body: %v: send {\"bucket\",\"key\",\"fops\",\"notifyURL\"}", err)
	}
	if dec.More() {
		return r, ufop.Errorf(ufop.KindInvalid, "pfop body: one JSON object expected")
	}
	return r, r.check()
}

// parsePfopForm parses the form body of Qiniu's POST /pfop/.
func parsePfopForm(body []byte) (pfopRequest, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return pfopRequest{}, ufop.Errorf(ufop.KindInvalid, "pfop form: %v", err)
	}
	r := pfopRequest{Bucket: v.Get("bucket"), Key: v.Get("key"), Fops: v.Get("fops"), NotifyURL: v.Get("notifyURL"),
		Force: v.Get("force"), Pipeline: v.Get("pipeline")}
	return r, r.check()
}

func (r pfopRequest) check() error {
	switch {
	case r.Bucket == "":
		return ufop.Errorf(ufop.KindInvalid, "pfop: bucket is required")
	case r.Key == "":
		return ufop.Errorf(ufop.KindInvalid, "pfop: key is required")
	case strings.TrimSpace(r.Fops) == "":
		return ufop.Errorf(ufop.KindInvalid, "pfop: fops is required: one or more pipelines separated by ';'")
	}
	return storage.ValidateKey(r.Key)
}

// parsePfopFops splits fops into its pipelines (separated by ';') and
// parses each; the error names the pipeline and, through fop.Parse, the
// fop at fault.
func parsePfopFops(fops string, maxSteps, maxPipelines int) (cmds []string, ps []fop.Pipeline, err error) {
	for i, cmd := range strings.Split(fops, ";") {
		cmd = strings.TrimSpace(cmd)
		if cmd == "" {
			return nil, nil, ufop.Errorf(ufop.KindInvalid, "fops: pipeline %d is empty: remove the extra ';'", i+1)
		}
		if i == maxPipelines {
			return nil, nil, ufop.Errorf(ufop.KindInvalid, "fops: more than %d pipelines in one job", maxPipelines)
		}
		p, err := fop.Parse(cmd, maxSteps)
		if err != nil {
			return nil, nil, &ufop.Error{Kind: ufop.KindOf(err), Err: err,
				Msg: fmt.Sprintf("fops: pipeline %d (%q): %s", i+1, cmd, ufop.Message(err))}
		}
		cmds, ps = append(cmds, cmd), append(ps, p)
	}
	return cmds, ps, nil
}

// checkNotifyURL: http(s) with a host (400), and not a literal address
// the egress policy refuses (403). Names are checked when dialled.
func (g *Gateway) checkNotifyURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return ufop.Errorf(ufop.KindInvalid, "notifyURL %q: use an http(s) URL without user info", raw)
	}
	if err := g.egress.CheckURL(raw); err != nil {
		return &ufop.Error{Kind: ufop.KindPermission, Err: err, Msg: fmt.Sprintf("notifyURL %q: %s", raw, ufop.Message(err))}
	}
	return nil
}

// pfopGenKey is where the result of item i of job id goes when its
// pipeline has no saveas: in the source bucket, under pfop/<id>/<i>.
func pfopGenKey(id string, i int) string { return "pfop/" + id + "/" + strconv.Itoa(i) }

func newPersistentID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "z0." + hex.EncodeToString(b)
}

// submitPfop checks a submission by caller and queues it. Nothing is
// stored or queued when a check fails.
func (g *Gateway) submitPfop(ctx context.Context, caller ufop.User, rq requester, req pfopRequest, reqid string) (string, error) {
	if g.pfop == nil {
		return "", &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: 5 * time.Second, Msg: "persistent processing is not available: this gateway has no job queue (NATS)"}
	}
	b, err := g.cat.Bucket(req.Bucket)
	if err != nil {
		return "", err
	}
	if b.Owner != caller.Name && !caller.Admin {
		return "", ufop.Errorf(ufop.KindPermission, "pfop: bucket %q belongs to another user", b.Name)
	}
	cmds, ps, err := parsePfopFops(req.Fops, g.cfg.MaxPipeline, g.cfg.Pfop.MaxPipelines)
	if err != nil {
		return "", err
	}
	if err := g.checkNotifyURL(req.NotifyURL); err != nil {
		return "", err
	}
	rq.user = &caller
	if err := mayRead(rq, b); err != nil {
		return "", err
	}
	if _, err := g.store.Stat(ctx, b.Name, req.Key); err != nil {
		return "", err
	}
	id := newPersistentID()
	job := pfopJob{pfopStatus: pfopStatus{ID: id, Code: pfopWaiting, InputBucket: b.Name, InputKey: req.Key, Reqid: reqid},
		Owner: b.Owner, NotifyURL: req.NotifyURL, Created: time.Now().UTC()}
	for i, p := range ps {
		if _, err := g.ufopSteps(p, b.Owner); err != nil {
			return "", err
		}
		refs, err := g.readRefs(rq, p.Refs())
		if err != nil {
			return "", err
		}
		w := pfopWork{Fops: fop.Pipeline{Steps: p.Steps}.String(), Bucket: b.Name, Key: pfopGenKey(id, i), Refs: refs}
		if p.SaveAs != nil {
			if err := g.canSave(&caller, p.SaveAs); err != nil {
				return "", err
			}
			w.Bucket, w.Key = p.SaveAs.Bucket, p.SaveAs.Key
		}
		job.Work = append(job.Work, w)
		job.Items = append(job.Items, pfopItemStatus{Cmd: cmds[i], Code: pfopWaiting, Key: w.Key})
	}
	// One request against the owner's rate: the work itself is paced by
	// the workers.
	release, err := g.limits.admit(b.Owner, b.Name, nil)
	if err != nil {
		return "", err
	}
	release()
	tier := ufop.TierFree
	if u, err := g.cat.User(b.Owner); err == nil {
		tier = u.Tier
	}
	data, err := json.Marshal(job)
	if err != nil {
		return "", err
	}
	if err := g.pfop.CreateState(ctx, id, data); err != nil {
		return "", err
	}
	if err := g.pfop.Publish(ctx, tier, b.Owner, id, []byte(id)); err != nil {
		// Not queued: say so in its status rather than leave it waiting.
		job.Code = pfopFailed
		for i := range job.Items {
			job.Items[i].Code, job.Items[i].Error = pfopFailed, "the job could not be queued"
		}
		if d, merr := json.Marshal(job); merr == nil {
			if _, rev, serr := g.pfop.State(context.WithoutCancel(ctx), id); serr == nil {
				g.pfop.UpdateState(context.WithoutCancel(ctx), id, d, rev)
			}
		}
		return "", err
	}
	return id, nil
}

// mountPfop adds the pfop API: POST /v1/pfop in the signed group, and the
// unsigned status and Qiniu's own paths on e.
func (g *Gateway) mountPfop(e *echo.Echo, v1 *echo.Group) {
	v1.POST("/pfop", g.postPfop)
	e.GET("/v1/pfop/:id", g.getPfop)
	e.POST("/pfop", g.postQiniuPfop)
	e.POST("/pfop/", g.postQiniuPfop)
	e.GET("/status/get/prefop", g.getQiniuPrefop)
}

func (g *Gateway) postPfop(c echo.Context) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return ufop.Errorf(ufop.KindInvalid, "reading the request body: %v", err)
	}
	req, err := parsePfopJSON(body)
	if err != nil {
		return err
	}
	return g.answerSubmit(c, userOf(c), req)
}

func (g *Gateway) answerSubmit(c echo.Context, caller ufop.User, req pfopRequest) error {
	r := c.Request()
	id, err := g.submitPfop(r.Context(), caller, requester{referer: r.Header.Get("Referer"), host: r.Host}, req, reqidOf(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"persistentId": id})
}

// postQiniuPfop is Qiniu's POST /pfop/: a form body signed with QBox or
// Qiniu credentials (auth/qiniu.go).
func (g *Gateway) postQiniuPfop(c echo.Context) error {
	r := c.Request()
	cred, err := auth.ParseQiniuAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, g.cfg.MaxAdminBody+1))
	if err != nil {
		return ufop.Errorf(ufop.KindInvalid, "reading the request body: %v", err)
	}
	if int64(len(body)) > g.cfg.MaxAdminBody {
		return ufop.Errorf(ufop.KindTooLarge, "request body over %s", ufop.FormatBytes(g.cfg.MaxAdminBody))
	}
	user, sk, err := g.cat.LookupKey(cred.AK)
	if err != nil {
		return err
	}
	if err := auth.VerifyQiniu(r, body, cred, sk); err != nil {
		return err
	}
	req, err := parsePfopForm(body)
	if err != nil {
		return err
	}
	return g.answerSubmit(c, user, req)
}

func (g *Gateway) getPfop(c echo.Context) error { return g.answerStatus(c, c.Param("id")) }

func (g *Gateway) getQiniuPrefop(c echo.Context) error { return g.answerStatus(c, c.QueryParam("id")) }

func (g *Gateway) answerStatus(c echo.Context, id string) error {
	if g.pfop == nil {
		return &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: 5 * time.Second, Msg: "persistent processing is not available: this gateway has no job queue (NATS)"}
	}
	if !validPersistentID(id) {
		return ufop.Errorf(ufop.KindNotFound, "no such pfop job %q", id)
	}
	data, _, err := g.pfop.State(c.Request().Context(), id)
	if err != nil {
		return err
	}
	var job pfopJob
	if err := json.Unmarshal(data, &job); err != nil {
		return fmt.Errorf("gateway: pfop state of %s: %w", id, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, job.status())
}

// validPersistentID accepts what newPersistentID makes, so that nothing
// else reaches the KV bucket as a key.
func validPersistentID(id string) bool {
	hexPart, ok := strings.CutPrefix(id, "z0.")
	if !ok || len(hexPart) != 32 {
		return false
	}
	_, err := hex.DecodeString(hexPart)
	return err == nil
}
