package ufopctl

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/storage"
)

// fakeAPI is an in-process admin API for the client and CLI tests: it
// checks every signature with package auth and keeps objects in a real
// storage.Store. It is not the gateway (that one has its own end-to-end
// tests); it implements the routes of the contract closely enough to
// verify what ufopctl sends and how it prints the answers.
type fakeAPI struct {
	srv   *httptest.Server
	store storage.Store

	mu      sync.Mutex
	keys    map[string]string // AK → SK
	akUser  map[string]string // AK → user name
	users   map[string]*ufop.User
	buckets map[string]ufop.Bucket
	reqs    []seenRequest
	reqid   int
	// pageSize is the list page size when the client sets no limit.
	pageSize int
	// ufops is the UFOP part of the API (ufops_test.go), made on first use.
	ufops *fakeUFOPs
}

// seenRequest is one request as the server received it.
type seenRequest struct {
	Method string
	URI    string // raw request target, ts= removed
	Body   string
	Signed bool // the signature verified
}

const (
	adminAK = "AKadmin"
	adminSK = "SKadmin-secret"
)

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	st, err := storage.New(storage.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAPI{
		store:   st,
		keys:    map[string]string{adminAK: adminSK},
		akUser:  map[string]string{adminAK: "admin"},
		users:   map[string]*ufop.User{"admin": {Name: "admin", Tier: ufop.TierPaid, Admin: true, Keys: []string{adminAK}, Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}},
		buckets: map[string]ufop.Bucket{},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.srv.Close()
		st.Close()
	})
	return f
}

func (f *fakeAPI) config() Config {
	return Config{Endpoint: f.srv.URL, AK: adminAK, SK: adminSK}
}

// last returns the last request received.
func (f *fakeAPI) last() seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		return seenRequest{}
	}
	return f.reqs[len(f.reqs)-1]
}

func (f *fakeAPI) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

var kindStatus = map[ufop.Kind]int{
	ufop.KindInvalid: 400, ufop.KindUnauthenticated: 401, ufop.KindPermission: 403,
	ufop.KindNotFound: 404, ufop.KindConflict: 409, ufop.KindTooLarge: 413,
}

func (f *fakeAPI) writeErr(w http.ResponseWriter, reqid string, err error) {
	code, ok := kindStatus[ufop.KindOf(err)]
	if !ok {
		code = 500
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"code": code, "error": ufop.Message(err), "reqid": reqid})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	target := auth.RequestPathAndQuery(r)
	cred, err := auth.ParseAuthorization(r.Header.Get("Authorization"))
	f.mu.Lock()
	f.reqid++
	reqid := "req-" + strconv.Itoa(f.reqid)
	if err == nil {
		sk, ok := f.keys[cred.AK]
		if !ok {
			err = ufop.Errorf(ufop.KindUnauthenticated, "unknown access key %q", cred.AK)
		} else {
			err = auth.VerifyRequest(r.Method, target, auth.BodyHash(body), cred, sk, time.Now(), 0)
		}
	}
	// Record the target without ts= and nonce=, which change every call.
	path, q, _ := strings.Cut(target, "?")
	var kept []string
	for _, p := range strings.Split(q, "&") {
		if p != "" && !strings.HasPrefix(p, "ts=") && !strings.HasPrefix(p, "nonce=") {
			kept = append(kept, p)
		}
	}
	if len(kept) > 0 {
		path += "?" + strings.Join(kept, "&")
	}
	f.reqs = append(f.reqs, seenRequest{Method: r.Method, URI: path, Body: string(body), Signed: err == nil})
	user := f.users[f.akUser[cred.AK]]
	f.mu.Unlock()
	w.Header().Set("X-Reqid", reqid)
	if err != nil {
		f.writeErr(w, reqid, err)
		return
	}
	if err := f.route(w, r, body, user); err != nil {
		f.writeErr(w, reqid, err)
	}
}

func (f *fakeAPI) route(w http.ResponseWriter, r *http.Request, body []byte, user *ufop.User) error {
	ctx := r.Context()
	p := r.URL.Path // decoded: keys come back as written
	switch {
	case p == "/v1/whoami" && r.Method == "GET":
		f.mu.Lock()
		defer f.mu.Unlock()
		writeJSON(w, user)
	case p == "/v1/buckets" && r.Method == "GET":
		f.mu.Lock()
		defer f.mu.Unlock()
		var bs []ufop.Bucket
		for _, b := range f.buckets {
			bs = append(bs, b)
		}
		sort.Slice(bs, func(i, j int) bool { return bs[i].Name < bs[j].Name })
		writeJSON(w, map[string]any{"buckets": bs})
	case strings.HasPrefix(p, "/v1/buckets/") && strings.HasSuffix(p, "/objects") && r.Method == "GET":
		bucket := strings.TrimSuffix(strings.TrimPrefix(p, "/v1/buckets/"), "/objects")
		q := r.URL.Query()
		limit, _ := strconv.Atoi(q.Get("limit"))
		if limit == 0 {
			f.mu.Lock()
			limit = f.pageSize
			f.mu.Unlock()
		}
		objs, next, err := f.store.List(ctx, bucket, q.Get("prefix"), q.Get("marker"), limit)
		if err != nil {
			return err
		}
		writeJSON(w, map[string]any{"objects": objs, "next": next})
	case strings.HasPrefix(p, "/v1/buckets/"):
		return f.bucket(w, r, strings.TrimPrefix(p, "/v1/buckets/"), body, user)
	case strings.HasPrefix(p, "/v1/objects/"):
		bucket, key, _ := strings.Cut(strings.TrimPrefix(p, "/v1/objects/"), "/")
		return f.object(w, r, bucket, key, body)
	case p == "/v1/users" && r.Method == "POST":
		var in struct {
			Name  string    `json:"name"`
			Tier  ufop.Tier `json:"tier"`
			Admin bool      `json:"admin"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			return ufop.Errorf(ufop.KindInvalid, "users: body is not JSON")
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.users[in.Name]; ok {
			return ufop.Errorf(ufop.KindConflict, "user %q exists", in.Name)
		}
		ak, sk := "AK"+in.Name, "SK"+in.Name+"-secret"
		f.users[in.Name] = &ufop.User{Name: in.Name, Tier: in.Tier, Admin: in.Admin, Keys: []string{ak}, Created: time.Now().UTC()}
		f.keys[ak], f.akUser[ak] = sk, in.Name
		writeJSON(w, NewUser{Name: in.Name, AK: ak, SK: sk, Tier: in.Tier, Admin: in.Admin})
	case p == "/v1/users" && r.Method == "GET":
		f.mu.Lock()
		defer f.mu.Unlock()
		var us []ufop.User
		for _, name := range []string{"admin", "alice", "bob"} {
			if u, ok := f.users[name]; ok {
				us = append(us, *u)
			}
		}
		writeJSON(w, map[string]any{"users": us})
	case strings.HasPrefix(p, "/v1/users/") && r.Method == "DELETE":
		f.mu.Lock()
		defer f.mu.Unlock()
		name := strings.TrimPrefix(p, "/v1/users/")
		if _, ok := f.users[name]; !ok {
			return ufop.Errorf(ufop.KindNotFound, "no such user %q", name)
		}
		delete(f.users, name)
		w.WriteHeader(http.StatusNoContent)
	case strings.HasPrefix(p, "/v1/prefetch/") && r.Method == "POST":
		return f.prefetch(w, r, strings.TrimPrefix(p, "/v1/prefetch/"))
	case p == "/v1/ufops" || strings.HasPrefix(p, "/v1/ufops/"):
		return f.ufopRoute(w, r, body, user)
	default:
		return ufop.Errorf(ufop.KindNotFound, "no route %s %s", r.Method, p)
	}
	return nil
}

func (f *fakeAPI) bucket(w http.ResponseWriter, r *http.Request, name string, body []byte, user *ufop.User) error {
	ctx := r.Context()
	f.mu.Lock()
	defer f.mu.Unlock()
	b, exists := f.buckets[name]
	switch r.Method {
	case "PUT":
		if exists {
			return ufop.Errorf(ufop.KindConflict, "bucket %q exists", name)
		}
		var opts BucketOptions
		if err := json.Unmarshal(body, &opts); err != nil {
			return ufop.Errorf(ufop.KindInvalid, "bucket: body is not JSON")
		}
		if err := f.store.CreateBucket(ctx, name); err != nil {
			return err
		}
		b = ufop.Bucket{Name: name, Owner: user.Name, Private: opts.Private, Created: time.Now().UTC(),
			Referers: opts.Referers, AllowEmptyReferer: opts.AllowEmptyReferer, Mirror: opts.Mirror}
		f.buckets[name] = b
		writeJSON(w, b)
	case "GET":
		if !exists {
			return ufop.Errorf(ufop.KindNotFound, "no such bucket %q", name)
		}
		writeJSON(w, b)
	case "DELETE":
		if !exists {
			return ufop.Errorf(ufop.KindNotFound, "no such bucket %q", name)
		}
		if r.URL.Query().Get("force") == "1" {
			objs, _, err := f.store.List(ctx, name, "", "", 0)
			if err != nil {
				return err
			}
			for _, o := range objs {
				if err := f.store.Delete(ctx, name, o.Key); err != nil {
					return err
				}
			}
		}
		if err := f.store.DeleteBucket(ctx, name); err != nil {
			return err
		}
		delete(f.buckets, name)
		w.WriteHeader(http.StatusNoContent)
	default:
		return ufop.Errorf(ufop.KindInvalid, "method %s not allowed", r.Method)
	}
	return nil
}

func (f *fakeAPI) object(w http.ResponseWriter, r *http.Request, bucket, key string, body []byte) error {
	ctx := r.Context()
	switch r.Method {
	case "PUT":
		obj, err := f.store.Put(ctx, bucket, key, bytes.NewReader(body), storage.PutOptions{ContentType: r.Header.Get("Content-Type")})
		if err != nil {
			return err
		}
		writeJSON(w, obj)
	case "GET", "HEAD":
		rd, err := f.store.Get(ctx, bucket, key)
		if err != nil {
			return err
		}
		defer rd.Close()
		w.Header().Set("ETag", `"`+rd.ETag+`"`)
		w.Header().Set("Content-Type", rd.ContentType)
		http.ServeContent(w, r, "", rd.Modified, rd)
	case "DELETE":
		if err := f.store.Delete(ctx, bucket, key); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		return ufop.Errorf(ufop.KindInvalid, "method %s not allowed", r.Method)
	}
	return nil
}

// seed creates a bucket and objects directly in the fake's state.
func (f *fakeAPI) seed(t *testing.T, bucket string, private bool, objects map[string]string) {
	t.Helper()
	ctx := context.Background()
	f.mu.Lock()
	f.buckets[bucket] = ufop.Bucket{Name: bucket, Owner: "admin", Private: private, Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	f.mu.Unlock()
	if err := f.store.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	for k, v := range objects {
		if _, err := f.store.Put(ctx, bucket, k, strings.NewReader(v), storage.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}
