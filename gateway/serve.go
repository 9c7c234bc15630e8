package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/storage"
)

// objectPath returns the bucket and key a public request names: the first
// path segment and the rest, or, with a configured domain, the host's
// first label and the whole path. rawKey is the key still percent-encoded
// as it came, for the style split (styles.go).
func (g *Gateway) objectPath(r *http.Request) (bucket, key, rawKey string, err error) {
	path := r.URL.EscapedPath()
	if g.cfg.Domain != "" {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if b, ok := strings.CutSuffix(host, "."+g.cfg.Domain); ok && b != "" && !strings.Contains(b, ".") {
			bucket, key = b, strings.TrimPrefix(path, "/")
		}
	}
	if bucket == "" {
		bucket, key, _ = strings.Cut(strings.TrimPrefix(path, "/"), "/")
	}
	rawKey = key
	if key, err = url.PathUnescape(key); err != nil {
		return "", "", "", ufop.Errorf(ufop.KindInvalid, "the key is not a valid percent-encoded path")
	}
	if bucket == "" {
		return "", "", "", ufop.Errorf(ufop.KindNotFound, "no bucket in the URL: use /<bucket>/<key>")
	}
	if key == "" {
		return "", "", "", ufop.Errorf(ufop.KindNotFound, "no key in the URL: use /<bucket>/<key>")
	}
	if err := storage.ValidateKey(key); err != nil {
		return "", "", "", err
	}
	return bucket, key, rawKey, nil
}

// splitQuery separates a processing URL's query into the fop pipeline and
// whether a download token (e=, token=) is present.
func splitQuery(raw string) (fops string, signed bool) {
	var parts []string
	for _, p := range strings.Split(raw, "&") {
		switch {
		case p == "":
		case strings.HasPrefix(p, "e="), strings.HasPrefix(p, "token="):
			signed = true
		default:
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "&"), signed
}

// serveObject answers GET and HEAD of /<bucket>/<key>[?fops].
func (g *Gateway) serveObject(c echo.Context) error {
	r := c.Request()
	bucketName, key, rawKey, err := g.objectPath(r)
	if err != nil {
		return err
	}
	rev := g.cat.BucketRevision(bucketName) // before b: the fast path's memo (fastpath.go)
	b, err := g.cat.Bucket(bucketName)
	if err != nil {
		return err
	}
	fops, signed := splitQuery(r.URL.RawQuery)
	// Counted for the bucket's owner from here on, refusals included.
	if fops == "" {
		noteUsage(c, b, "get")
	} else {
		noteUsage(c, b, g.usageCmd(fops))
	}
	var caller *ufop.User
	if signed {
		ak, err := auth.VerifyURLWithin(auth.FullURL(r), func(ak string) (string, error) {
			_, sk, err := g.cat.LookupKey(ak)
			return sk, err
		}, time.Now(), g.cfg.MaxURLLifetime)
		if err != nil {
			return err
		}
		u, _, err := g.cat.LookupKey(ak)
		if err != nil {
			return err
		}
		caller = &u
	}
	rq := requester{user: caller, referer: r.Header.Get("Referer"), host: r.Host}
	if err := mayRead(rq, b); err != nil {
		return err
	}
	// KEY<c>NAME, style steps, and the originals of a bucket that
	// protects them.
	key, fops, styles, err := g.styledRequest(rq, b, key, rawKey, fops)
	if err != nil {
		return err
	}
	if len(styles.defs) > 0 {
		// A style counts as the first step of its definition; the
		// re-count after decoding below misses a definition with nothing
		// to percent-encode (imageInfo).
		if d, err := url.PathUnescape(fops); err == nil {
			noteUsage(c, b, g.usageCmd(d))
		}
	}
	obj, err := g.store.Stat(r.Context(), b.Name, key)
	// A mirror bucket's missing key is fetched once the request is
	// admitted (mirror.go).
	missing := b.Mirror != "" && ufop.KindOf(err) == ufop.KindNotFound
	if err != nil && !missing {
		return err
	}
	g.setCacheControl(c, b)
	protectCacheControl(c, b, styles)
	if fops == "" {
		release, err := g.limits.admit(b.Owner, b.Name, nil)
		if err != nil {
			return err
		}
		defer release()
		if missing {
			if _, err := g.mirror.Fill(r.Context(), b, key); err != nil {
				return err
			}
		}
		return g.serveRaw(c, b, key)
	}
	raw := fops
	fops, err = url.PathUnescape(fops)
	if err != nil {
		noteUsage(c, b, usageCmdInvalid)
		return ufop.Errorf(ufop.KindInvalid, "the fop is not valid percent-encoding")
	}
	if fops != raw {
		noteUsage(c, b, g.usageCmd(fops))
	}
	p, err := fop.Parse(fops, g.cfg.MaxPipeline)
	if err != nil {
		return err
	}
	c.Set(ctxFop, fopLabel(p))
	custom, err := g.ufopSteps(p, b.Owner)
	if err != nil {
		return err
	}
	// Checked before any cache: a cached result holds what it read.
	refs, err := g.readRefs(rq, p.Refs())
	if err != nil {
		return err
	}
	if err := g.readRefOriginals(rq, b, refs, styles.defs); err != nil {
		return err
	}
	// Charged to the bucket's owner (SPEC §7), every step to its command.
	release, err := g.limits.admit(b.Owner, b.Name, p.Steps)
	if err != nil {
		return err
	}
	defer release()
	if missing {
		if obj, err = g.mirror.Fill(r.Context(), b, key); err != nil {
			return err
		}
	}
	etag := `"` + fop.ResultKey(obj.ETag, p) + `"`
	h := c.Response().Header()
	// A result is named by its source and pipeline only when every step is
	// built in: custom code may answer differently to the same input.
	if p.SaveAs == nil && len(custom) == 0 {
		h.Set("ETag", etag)
		h.Set("Last-Modified", obj.Modified.UTC().Format(http.TimeFormat))
		if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
			g.metrics.notModified()
			return c.NoContent(http.StatusNotModified)
		}
	}
	if p.SaveAs != nil {
		if err := g.canSave(caller, p.SaveAs); err != nil {
			return err
		}
	}
	if len(custom) > 0 {
		h.Set("Cache-Control", "no-cache")
	}
	// Small results of built-in pipelines are kept here, keyed by their
	// ETag: a hit needs no agent.
	cacheable := p.SaveAs == nil && len(custom) == 0
	res, hit := (*result)(nil), false
	if cacheable {
		res, hit = g.results.get(etag)
	}
	if hit {
		g.metrics.resultCacheGateway()
	} else {
		if res, err = g.process(r.Context(), b, obj, p, custom, refs, reqidOf(c)); err != nil {
			return err
		}
		if cacheable {
			g.results.put(etag, res)
		}
	}
	if p.SaveAs != nil {
		if _, err := g.store.Put(r.Context(), p.SaveAs.Bucket, p.SaveAs.Key, bytes.NewReader(res.body),
			storage.PutOptions{ContentType: res.contentType}); err != nil {
			return fmt.Errorf("gateway: saveas: %w", err)
		}
	}
	for k, v := range res.header {
		h[k] = v
	}
	h.Set("Content-Length", strconv.Itoa(len(res.body)))
	if r.Method == http.MethodHead {
		return c.NoContent(http.StatusOK)
	}
	if hit && !signed && !missing && styles.defs == nil && len(refs) == 0 {
		g.fastRemember(c, b, rev, key, p, obj, etag, res)
	}
	return c.Blob(http.StatusOK, res.contentType, res.body)
}

func (g *Gateway) setCacheControl(c echo.Context, b ufop.Bucket) {
	h := c.Response().Header()
	if b.Private {
		h.Set("Cache-Control", "private, no-cache")
		return
	}
	age := g.cfg.PublicMaxAge
	if b.MaxAge > 0 {
		age = b.MaxAge
	}
	h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(age.Seconds())))
}

// serveRaw serves the stored object; http.ServeContent answers
// conditional and range requests.
func (g *Gateway) serveRaw(c echo.Context, b ufop.Bucket, key string) error {
	rd, err := g.store.Get(c.Request().Context(), b.Name, key)
	if err != nil {
		return err
	}
	defer rd.Close()
	h := c.Response().Header()
	h.Set("ETag", `"`+rd.Object.ETag+`"`)
	h.Set("Content-Type", rd.Object.ContentType)
	c.Set(ctxFop, "")
	w := &statusGuard{ResponseWriter: c.Response()}
	http.ServeContent(w, c.Request(), "", rd.Object.Modified, rd)
	switch w.failed {
	case 0:
		return nil
	case http.StatusRequestedRangeNotSatisfiable:
		return &echo.HTTPError{Code: w.failed, Message: fmt.Sprintf("the Range header does not fit the object's %d bytes", rd.Object.Size)}
	case http.StatusPreconditionFailed:
		return &echo.HTTPError{Code: w.failed, Message: "the object does not match If-Match or If-Unmodified-Since"}
	}
	return &echo.HTTPError{Code: w.failed, Message: http.StatusText(w.failed)}
}

// statusGuard keeps http.ServeContent's error answers (416, 412), plain
// text, from the client, so that they go out as SPEC §2 JSON instead.
type statusGuard struct {
	http.ResponseWriter
	failed int
}

func (w *statusGuard) WriteHeader(code int) {
	if code >= 400 {
		w.failed = code
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusGuard) Write(p []byte) (int, error) {
	if w.failed != 0 {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

func (g *Gateway) canSave(caller *ufop.User, s *fop.SaveAs) error {
	if caller == nil {
		return ufop.Errorf(ufop.KindUnauthenticated, "saveas needs a signed URL from a key that may write bucket %q", s.Bucket)
	}
	tb, err := g.cat.Bucket(s.Bucket)
	if err != nil {
		return err
	}
	if tb.Owner != caller.Name && !caller.Admin {
		return ufop.Errorf(ufop.KindPermission, "saveas: no permission to write bucket %q", s.Bucket)
	}
	return storage.ValidateKey(s.Key)
}

func checkReferer(b ufop.Bucket, ref string) error {
	if len(b.Referers) == 0 {
		return nil
	}
	if ref == "" {
		if b.AllowEmptyReferer {
			return nil
		}
		return ufop.Errorf(ufop.KindPermission, "bucket %q requires a Referer header", b.Name)
	}
	u, err := url.Parse(ref)
	if err != nil || u.Hostname() == "" {
		return ufop.Errorf(ufop.KindPermission, "referer not allowed for bucket %q", b.Name)
	}
	host := strings.ToLower(u.Hostname())
	for _, pat := range b.Referers {
		pat = strings.ToLower(pat)
		if host == pat || (strings.HasPrefix(pat, "*.") && strings.HasSuffix(host, pat[1:])) {
			return nil
		}
	}
	return ufop.Errorf(ufop.KindPermission, "referer %q not allowed for bucket %q", host, b.Name)
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

func fopLabel(p fop.Pipeline) string {
	names := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		names[i] = s.Name()
	}
	return strings.Join(names, "|")
}

type result struct {
	body        []byte
	contentType string
	header      http.Header
}

// passHeaders are the agent response headers a client sees.
var passHeaders = []string{protocol.HeaderFacecrop, protocol.HeaderCache, protocol.HeaderTiming, protocol.HeaderVersion}

// process runs the pipeline on an agent chosen by the registry, with a
// grant to read its source and refs (already checked for the requester).
// An agent that cannot be reached, or whose queue is full, is skipped for
// the next candidate; a dead agent is also taken out of routing for a
// while, ahead of its lease expiring.
func (g *Gateway) process(ctx context.Context, b ufop.Bucket, obj ufop.Object, p fop.Pipeline, custom []string,
	refs map[string]ufop.ObjectRef, reqid string) (*result, error) {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Deadline)
	defer cancel()
	deadline, _ := ctx.Deadline()
	tier := ufop.TierFree
	if u, err := g.cat.User(b.Owner); err == nil {
		tier = u.Tier
	}
	steps := fop.Pipeline{Steps: p.Steps}
	job := ufop.Job{ID: reqid,
		Source: ufop.Source{Bucket: b.Name, Key: obj.Key, ETag: obj.ETag, Size: obj.Size, ContentType: obj.ContentType,
			URL: g.internal + protocol.InternalObjectsPath + b.Name + "/" + storage.EscapeKey(obj.Key)},
		Fops: steps.String(), Owner: b.Owner, Tier: tier, Reqid: reqid, Deadline: deadline,
		ObjectsURL: g.internal + protocol.InternalObjectsPath, Refs: refs,
	}
	readable := []ufop.ObjectRef{{Bucket: b.Name, Key: obj.Key}}
	for _, o := range refs {
		if !slices.Contains(readable, o) {
			readable = append(readable, o)
		}
	}
	// A minute past the deadline: the fetch may reach another gateway of
	// the cluster (a shared internal URL), whose clock checks it.
	job.Grant = mintGrant(g.grantKey, readable, deadline.Add(time.Minute))
	if len(custom) > 0 && g.deps.Queue != nil {
		return g.enqueue(ctx, custom, job)
	}
	body, err := json.Marshal(job)
	if err != nil {
		return nil, err
	}
	// Pipelines with UFOP steps go to agents hosting all of them; built-in
	// ones by source, for cache locality.
	need := p.Steps[0].Name()
	if len(custom) > 0 {
		need = custom[0]
	}
	cands := slices.DeleteFunc(g.reg.Route(b.Name+"/"+obj.Key, need), func(a ufop.Agent) bool { return !hasAll(a, custom) })
	if len(cands) == 0 {
		return nil, &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: time.Second,
			Msg: "no agent is available to run " + strings.Join(append([]string{need}, custom...)[min(1, len(custom)):], " and ")}
	}
	const maxAttempts = 3
	var lastErr error
	for i, a := range cands {
		if i == maxAttempts {
			break
		}
		res, err := g.callAgent(ctx, a.Addr, body)
		if err == nil {
			g.metrics.agentCall(a.ID, "ok")
			if res.header.Get(protocol.HeaderCache) == "hit" {
				g.metrics.resultCache(true)
			} else {
				g.metrics.resultCache(false)
				g.metrics.observeTiming(res.header.Get(protocol.HeaderTiming))
			}
			return res, nil
		}
		lastErr = err
		var te *transportError
		switch {
		case errors.As(err, &te):
			g.metrics.agentCall(a.ID, "unreachable")
			g.reg.Suspect(a.ID, g.cfg.Discovery.TTL*2)
			g.logger.Warn("agent unreachable, trying another", "reqid", reqid, "agent", a.ID, "err", err)
		case ufop.KindOf(err) == ufop.KindUnavailable:
			g.metrics.agentCall(a.ID, "busy")
		default:
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ufop.Errorf(ufop.KindTimeout, "processing deadline of %v passed", g.cfg.Deadline)
		}
	}
	var te *transportError
	if errors.As(lastErr, &te) {
		return nil, &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: time.Second, Msg: "no agent could be reached", Err: lastErr}
	}
	return nil, lastErr
}

// enqueue runs a pipeline with UFOP steps through the work queue of its
// first UFOP and waits for the answer.
func (g *Gateway) enqueue(ctx context.Context, custom []string, job ufop.Job) (*result, error) {
	name := custom[0]
	u, uerr := g.cat.UFOP(name)
	// Nothing to wait for when no instance runs and none will: a UFOP
	// without an autoscaling policy that could start one.
	if uerr == nil && (u.Scale == nil || u.Scale.Max == 0) {
		hosted := false
		for _, a := range g.reg.Agents() {
			hosted = hosted || hasAll(a, custom)
		}
		if !hosted {
			return nil, &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: time.Second,
				Msg: "no instance of " + strings.Join(custom, " and ") + " is running"}
		}
	}
	w, err := g.deps.Queue.Wait()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	job.Reply = w.Reply()
	start := time.Now()
	if err := w.Publish(ctx, name, job); err != nil {
		return nil, err
	}
	if uerr == nil && u.Instances == 0 && u.Scale != nil {
		// Scaled to zero: the job waits in the queue while the scaler
		// starts an instance now rather than at its next pass.
		g.deps.Queue.Wake(name)
	}
	res, err := w.Next(ctx)
	g.metrics.queueWait(name, time.Since(start))
	if err != nil {
		// The client left or the deadline passed: the job is not worth
		// running any more.
		g.deps.Queue.Cancel(job.ID)
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, ufop.Errorf(ufop.KindTimeout, "processing deadline of %v passed", g.cfg.Deadline)
		}
		return nil, err
	}
	if res.Err != nil {
		return nil, res.Err
	}
	body := res.Body
	if res.Fetch != "" {
		if body, err = g.fetchResult(ctx, res.Fetch); err != nil {
			return nil, err
		}
	}
	h := http.Header{}
	for k, v := range res.Header {
		if slices.Contains(passHeaders, k) {
			h.Set(k, v)
		}
	}
	return &result{body: body, contentType: res.ContentType, header: h}, nil
}

// fetchResult gets a result too large for the reply message from its agent.
func (g *Gateway) fetchResult(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, ufop.Errorf(ufop.KindUpstream, "fetching the result from its agent failed")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, ufop.Errorf(ufop.KindUpstream, "fetching the result from its agent: %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, ufop.Errorf(ufop.KindUpstream, "fetching the result from its agent was cut short")
	}
	return b, nil
}

// transportError is a failure to talk to an agent at all, as opposed to an
// answer from it.
type transportError struct{ err error }

func (e *transportError) Error() string { return "agent: " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

func (g *Gateway) callAgent(ctx context.Context, addr string, body []byte) (*result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, addr+protocol.PathProcess, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+g.token)
	resp, err := g.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ufop.Errorf(ufop.KindTimeout, "processing deadline of %v passed", g.cfg.Deadline)
		}
		return nil, &transportError{err}
	}
	defer resp.Body.Close()
	// The whole answer is read before anything reaches the client, so an
	// agent dying mid-answer can still be retried elsewhere.
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ufop.Errorf(ufop.KindTimeout, "processing deadline of %v passed", g.cfg.Deadline)
		}
		return nil, &transportError{err}
	}
	if kind := resp.Header.Get(protocol.HeaderErrorKind); kind != "" || resp.StatusCode != http.StatusOK {
		var eb struct {
			Error string `json:"error"`
		}
		json.Unmarshal(data, &eb)
		if eb.Error == "" {
			eb.Error = "agent answered " + resp.Status
		}
		e := &ufop.Error{Kind: ufop.ParseKind(kind), Msg: eb.Error}
		if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			e.RetryAfter = time.Duration(ra) * time.Second
		}
		return nil, e
	}
	h := http.Header{}
	for _, k := range passHeaders {
		if v := resp.Header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	return &result{body: data, contentType: resp.Header.Get("Content-Type"), header: h}, nil
}

// internalObject serves stored objects to agents (sources and watermark
// images). It needs the cluster token and a read grant of the job that
// covers the object: the gateway that took the request decided what it
// may read (reads.go).
func (g *Gateway) internalObject(c echo.Context) error {
	r := c.Request()
	if g.token == "" || r.Header.Get("Authorization") != "Bearer "+g.token {
		return ufop.Errorf(ufop.KindUnauthenticated, "cluster token required")
	}
	rest := strings.TrimPrefix(r.URL.EscapedPath(), protocol.InternalObjectsPath)
	bucket, ekey, _ := strings.Cut(rest, "/")
	key, err := url.PathUnescape(ekey)
	if err != nil {
		return ufop.Errorf(ufop.KindInvalid, "bad key")
	}
	if err := checkGrant(g.grantKey, r.Header.Get(protocol.HeaderGrant), ufop.ObjectRef{Bucket: bucket, Key: key}, time.Now()); err != nil {
		return err
	}
	b, err := g.cat.Bucket(bucket)
	if err != nil {
		return err
	}
	if b.Mirror != "" { // a watermark image in a mirror bucket
		if _, err := g.mirror.Fill(r.Context(), b, key); err != nil {
			return err
		}
	}
	return g.serveRaw(c, b, key)
}
