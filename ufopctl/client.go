package ufopctl

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/storage"
)

// Client calls the admin API, signing every request with its key pair.
// It is safe for concurrent use.
type Client struct {
	cfg  Config
	base string // admin API base URL without a trailing slash
	hc   *http.Client
}

// NewClient returns a client for c. A nil hc means a default client with
// no overall timeout: uploads can be long, so bound calls with ctx.
func NewClient(c Config, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	base := c.AdminEndpoint
	if base == "" {
		base = c.Endpoint
	}
	return &Client{cfg: c, base: strings.TrimRight(base, "/"), hc: hc}
}

// APIError is an error answer of the API: {"code","error","reqid"}.
type APIError struct {
	Code    int    `json:"code"`
	Message string `json:"error"`
	Reqid   string `json:"reqid"`
}

func (e *APIError) Error() string {
	s := strconv.Itoa(e.Code) + " " + e.Message
	if e.Reqid != "" {
		s += " (reqid " + e.Reqid + ")"
	}
	return s
}

// BucketOptions are the settable properties of a new bucket.
type BucketOptions = protocol.BucketOptions

// NewUser is a created user with its first key pair.
type NewUser = protocol.NewUser

// EscapeKey escapes an object key for a URL path: each '/'-separated
// segment with url.PathEscape, keeping the separators ("a b/ü.jpg" →
// "a%20b/%C3%BC.jpg").
func EscapeKey(key string) string { return storage.EscapeKey(key) }

func bucketPath(bucket string) string { return "/v1/buckets/" + url.PathEscape(bucket) }

func objectPath(bucket, key string) string {
	return "/v1/objects/" + url.PathEscape(bucket) + "/" + EscapeKey(key)
}

// Do sends a signed request with a JSON body (nil for none) to path (the
// escaped path and query under the admin base URL, like "/v1/buckets")
// and decodes a JSON answer into out (nil to discard it). Verbs without a
// method of their own use it.
func (c *Client) Do(ctx context.Context, method, path string, body []byte, out any) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := c.newRequest(ctx, method, path, r, int64(len(body)), auth.BodyHash(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decode(resp, out)
}

func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader, size int64, bodyHash string) (*http.Request, error) {
	if c.base == "" {
		return nil, errors.New("no endpoint configured: run ufopctl login first")
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if body == nil || size == 0 {
		req.Body, req.ContentLength = http.NoBody, 0
	} else {
		req.ContentLength = size
	}
	req.Header.Set("Accept", "application/json")
	auth.SignRequest(req, c.cfg.AK, c.cfg.SK, bodyHash, time.Now())
	return req, nil
}

// send does the round trip, turning transport failures into one short
// sentence and error statuses into *APIError.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("cannot reach %s: %w", c.base, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, apiError(resp)
	}
	return resp, nil
}

func apiError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &APIError{}
	if json.Unmarshal(b, e) != nil || e.Message == "" {
		// Not our JSON (a proxy, a HEAD answer): say what we know.
		e.Message = http.StatusText(resp.StatusCode)
		if line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n"); line != "" && len(line) < 200 {
			e.Message = line
		}
	}
	e.Code = resp.StatusCode
	if e.Reqid == "" {
		e.Reqid = resp.Header.Get("X-Reqid")
	}
	return e
}

func decode(resp *http.Response, out any) error {
	if out == nil || resp.StatusCode == http.StatusNoContent {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode %s answer: %w", resp.Request.URL.Path, err)
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called with plain structs
	}
	return b
}

// CreateBucket creates a bucket owned by the caller.
func (c *Client) CreateBucket(ctx context.Context, name string, opts BucketOptions) (ufop.Bucket, error) {
	var b ufop.Bucket
	err := c.Do(ctx, http.MethodPut, bucketPath(name), mustJSON(opts), &b)
	return b, err
}

// ListBuckets lists the caller's buckets (all buckets for an admin).
func (c *Client) ListBuckets(ctx context.Context) ([]ufop.Bucket, error) {
	var out struct {
		Buckets []ufop.Bucket `json:"buckets"`
	}
	err := c.Do(ctx, http.MethodGet, "/v1/buckets", nil, &out)
	return out.Buckets, err
}

// GetBucket returns one bucket's metadata.
func (c *Client) GetBucket(ctx context.Context, name string) (ufop.Bucket, error) {
	var b ufop.Bucket
	err := c.Do(ctx, http.MethodGet, bucketPath(name), nil, &b)
	return b, err
}

// DeleteBucket deletes an empty bucket; with force, its objects first.
func (c *Client) DeleteBucket(ctx context.Context, name string, force bool) error {
	p := bucketPath(name)
	if force {
		p += "?force=1"
	}
	return c.Do(ctx, http.MethodDelete, p, nil, nil)
}

// ListObjects returns one page of a bucket's objects with keys starting
// with prefix after marker, and the marker of the next page ("" at the
// end). limit <= 0 lets the server choose.
func (c *Client) ListObjects(ctx context.Context, bucket, prefix, marker string, limit int) ([]ufop.Object, string, error) {
	q := url.Values{}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	if marker != "" {
		q.Set("marker", marker)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := bucketPath(bucket) + "/objects"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out struct {
		Objects []ufop.Object `json:"objects"`
		Next    string        `json:"next"`
	}
	err := c.Do(ctx, http.MethodGet, path, nil, &out)
	return out.Objects, out.Next, err
}

// PutObject uploads r as bucket/key. The body hash is part of the
// signature, so r is read twice: once to hash it, then from the start to
// send it. progress, if set, is called as bytes are sent (done, total).
// An empty contentType lets the server sniff one.
func (c *Client) PutObject(ctx context.Context, bucket, key string, r io.ReadSeeker, contentType string, progress func(done, total int64)) (ufop.Object, error) {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return ufop.Object{}, fmt.Errorf("rewind upload: %w", err)
	}
	h := sha256.New()
	size, err := io.Copy(h, r)
	if err != nil {
		return ufop.Object{}, fmt.Errorf("hash upload: %w", err)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return ufop.Object{}, fmt.Errorf("rewind upload: %w", err)
	}
	// A progressReader hides r's Close (if any) from net/http, which closes
	// request bodies; the caller owns r. LimitReader pins the length we
	// hashed even if the file grows meanwhile.
	body := &progressReader{r: io.LimitReader(r, size), total: size, fn: progress}
	req, err := c.newRequest(ctx, http.MethodPut, objectPath(bucket, key), body, size, hex.EncodeToString(h.Sum(nil)))
	if err != nil {
		return ufop.Object{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if progress != nil {
		progress(0, size)
	}
	resp, err := c.send(req)
	if err != nil {
		return ufop.Object{}, err
	}
	defer resp.Body.Close()
	var obj ufop.Object
	return obj, decode(resp, &obj)
}

type progressReader struct {
	r           io.Reader
	done, total int64
	fn          func(done, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 && p.fn != nil {
		p.done += int64(n)
		p.fn(p.done, p.total)
	}
	return n, err
}

// GetObject downloads bucket/key. The caller closes the body; reading it
// to the end fails if the bytes do not match the object's ETag (a
// SHA-256), so a truncated or corrupted download never looks complete.
func (c *Client) GetObject(ctx context.Context, bucket, key string) (io.ReadCloser, ufop.Object, error) {
	req, err := c.newRequest(ctx, http.MethodGet, objectPath(bucket, key), nil, 0, auth.EmptyBodyHash)
	if err != nil {
		return nil, ufop.Object{}, err
	}
	req.Header.Del("Accept")
	resp, err := c.send(req)
	if err != nil {
		return nil, ufop.Object{}, err
	}
	obj := objectFromHeader(bucket, key, resp)
	body := io.ReadCloser(resp.Body)
	if len(obj.ETag) == sha256.Size*2 {
		if _, err := hex.DecodeString(obj.ETag); err == nil {
			body = &verifyingReader{rc: resp.Body, h: sha256.New(), want: obj.ETag}
		}
	}
	return body, obj, nil
}

// StatObject returns an object's metadata with a HEAD request.
func (c *Client) StatObject(ctx context.Context, bucket, key string) (ufop.Object, error) {
	req, err := c.newRequest(ctx, http.MethodHead, objectPath(bucket, key), nil, 0, auth.EmptyBodyHash)
	if err != nil {
		return ufop.Object{}, err
	}
	resp, err := c.send(req)
	if err != nil {
		return ufop.Object{}, err
	}
	resp.Body.Close()
	return objectFromHeader(bucket, key, resp), nil
}

func objectFromHeader(bucket, key string, resp *http.Response) ufop.Object {
	obj := ufop.Object{
		Bucket:      bucket,
		Key:         key,
		Size:        resp.ContentLength,
		ETag:        strings.Trim(strings.TrimPrefix(resp.Header.Get("ETag"), "W/"), `"`),
		ContentType: resp.Header.Get("Content-Type"),
	}
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		obj.Modified = t
	}
	return obj
}

type verifyingReader struct {
	rc   io.ReadCloser
	h    hash.Hash
	want string
	n    int64
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.rc.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if errors.Is(err, io.EOF) {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			return n, fmt.Errorf("download is corrupt: got %d bytes with SHA-256 %s, want ETag %s", v.n, got, v.want)
		}
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.rc.Close() }

// DeleteObject deletes bucket/key.
func (c *Client) DeleteObject(ctx context.Context, bucket, key string) error {
	return c.Do(ctx, http.MethodDelete, objectPath(bucket, key), nil, nil)
}

// AddUser creates a user and its first key pair (admins only).
func (c *Client) AddUser(ctx context.Context, name string, tier ufop.Tier, admin bool) (NewUser, error) {
	in := struct {
		Name  string    `json:"name"`
		Tier  ufop.Tier `json:"tier"`
		Admin bool      `json:"admin"`
	}{name, tier, admin}
	var u NewUser
	err := c.Do(ctx, http.MethodPost, "/v1/users", mustJSON(in), &u)
	return u, err
}

// ListUsers lists all users (admins only).
func (c *Client) ListUsers(ctx context.Context) ([]ufop.User, error) {
	var out struct {
		Users []ufop.User `json:"users"`
	}
	err := c.Do(ctx, http.MethodGet, "/v1/users", nil, &out)
	return out.Users, err
}

// RemoveUser deletes a user and its keys (admins only).
func (c *Client) RemoveUser(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/users/"+url.PathEscape(name), nil, nil)
}

// Whoami returns the user the client's key pair belongs to.
func (c *Client) Whoami(ctx context.Context) (ufop.User, error) {
	var u ufop.User
	err := c.Do(ctx, http.MethodGet, "/v1/whoami", nil, &u)
	return u, err
}
