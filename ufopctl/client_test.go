package ufopctl

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ufop/ufop"
)

func TestEscapeKey(t *testing.T) {
	tests := []struct{ key, want string }{
		{"a.jpg", "a.jpg"},
		{"a b/ü.jpg", "a%20b/%C3%BC.jpg"},
		{"dir/sub/x", "dir/sub/x"},
		{"q?#%", "q%3F%23%25"},
		{"/lead//double/", "/lead//double/"},
		{"漢字", "%E6%BC%A2%E5%AD%97"},
		{"a+b&c=d", "a+b&c=d"},
	}
	for _, tt := range tests {
		if got := EscapeKey(tt.key); got != tt.want {
			t.Errorf("EscapeKey(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestClient drives every client method against the fake API and checks
// the request each one sent and what it decoded.
func TestClient(t *testing.T) {
	ctx := context.Background()
	f := newFakeAPI(t)
	c := NewClient(f.config(), f.srv.Client())

	b, err := c.CreateBucket(ctx, "pics", BucketOptions{Private: true, Referers: []string{"*.example.test"}, Mirror: "http://origin.test"})
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "pics" || !b.Private || b.Owner != "admin" || b.Mirror != "http://origin.test" || len(b.Referers) != 1 {
		t.Fatalf("CreateBucket = %+v", b)
	}
	wantReq(t, f, "PUT", "/v1/buckets/pics", `{"private":true,"referers":["*.example.test"],"allowEmptyReferer":false,"mirror":"http://origin.test"}`)

	if got, err := c.GetBucket(ctx, "pics"); err != nil || got.Name != "pics" || !got.Private {
		t.Fatalf("GetBucket = %+v, %v", got, err)
	}
	wantReq(t, f, "GET", "/v1/buckets/pics", "")

	if bs, err := c.ListBuckets(ctx); err != nil || len(bs) != 1 || bs[0].Name != "pics" {
		t.Fatalf("ListBuckets = %+v, %v", bs, err)
	}
	wantReq(t, f, "GET", "/v1/buckets", "")

	body := bytes.Repeat([]byte("0123456789"), 10000)
	var calls, last, total int64
	obj, err := c.PutObject(ctx, "pics", "a b/ü.jpg", bytes.NewReader(body), "image/jpeg", func(done, tot int64) {
		if done < last {
			t.Errorf("progress went back from %d to %d", last, done)
		}
		calls, last, total = calls+1, done, tot
	})
	if err != nil {
		t.Fatal(err)
	}
	want := ufop.Object{Bucket: "pics", Key: "a b/ü.jpg", Size: int64(len(body)), ETag: sum(body), ContentType: "image/jpeg", Modified: obj.Modified}
	if obj != want {
		t.Fatalf("PutObject = %+v, want %+v", obj, want)
	}
	if calls < 2 || last != int64(len(body)) || total != int64(len(body)) {
		t.Fatalf("progress: %d calls, last %d/%d, want ≥2 calls ending at %d", calls, last, total, len(body))
	}
	wantReq(t, f, "PUT", "/v1/objects/pics/a%20b/%C3%BC.jpg", string(body))

	if _, err := c.PutObject(ctx, "pics", "empty", bytes.NewReader(nil), "", nil); err != nil {
		t.Fatalf("PutObject of an empty body: %v", err)
	}

	rc, got, err := c.GetObject(ctx, "pics", "a b/ü.jpg")
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(data, body) {
		t.Fatalf("GetObject read %d bytes, %v", len(data), err)
	}
	if got.ETag != obj.ETag || got.Size != obj.Size || got.ContentType != "image/jpeg" || got.Modified.Unix() != obj.Modified.Unix() {
		t.Fatalf("GetObject object %+v, want %+v", got, obj)
	}
	wantReq(t, f, "GET", "/v1/objects/pics/a%20b/%C3%BC.jpg", "")

	if st, err := c.StatObject(ctx, "pics", "a b/ü.jpg"); err != nil || st.ETag != obj.ETag || st.Size != obj.Size {
		t.Fatalf("StatObject = %+v, %v", st, err)
	}
	wantReq(t, f, "HEAD", "/v1/objects/pics/a%20b/%C3%BC.jpg", "")

	objs, next, err := c.ListObjects(ctx, "pics", "a b/", "", 10)
	if err != nil || len(objs) != 1 || objs[0].Key != "a b/ü.jpg" || next != "" {
		t.Fatalf("ListObjects = %+v, %q, %v", objs, next, err)
	}
	wantReq(t, f, "GET", "/v1/buckets/pics/objects?limit=10&prefix=a+b%2F", "")

	if err := c.DeleteObject(ctx, "pics", "a b/ü.jpg"); err != nil {
		t.Fatal(err)
	}
	wantReq(t, f, "DELETE", "/v1/objects/pics/a%20b/%C3%BC.jpg", "")

	nu, err := c.AddUser(ctx, "alice", ufop.TierPaid, true)
	if err != nil || nu.Name != "alice" || nu.AK == "" || nu.SK == "" || nu.Tier != ufop.TierPaid || !nu.Admin {
		t.Fatalf("AddUser = %+v, %v", nu, err)
	}
	wantReq(t, f, "POST", "/v1/users", `{"name":"alice","tier":"paid","admin":true}`)

	// The new key pair works.
	alice := NewClient(Config{Endpoint: f.srv.URL, AK: nu.AK, SK: nu.SK}, nil)
	if u, err := alice.Whoami(ctx); err != nil || u.Name != "alice" {
		t.Fatalf("Whoami as alice = %+v, %v", u, err)
	}
	wantReq(t, f, "GET", "/v1/whoami", "")

	if us, err := c.ListUsers(ctx); err != nil || len(us) != 2 {
		t.Fatalf("ListUsers = %+v, %v", us, err)
	}
	wantReq(t, f, "GET", "/v1/users", "")

	if err := c.RemoveUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	wantReq(t, f, "DELETE", "/v1/users/alice", "")

	if err := c.DeleteObject(ctx, "pics", "empty"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteBucket(ctx, "pics", false); err != nil {
		t.Fatal(err)
	}
	wantReq(t, f, "DELETE", "/v1/buckets/pics", "")

	// Do is the generic verb.
	var u ufop.User
	if err := c.Do(ctx, "GET", "/v1/whoami", nil, &u); err != nil || u.Name != "admin" || !u.Admin {
		t.Fatalf("Do whoami = %+v, %v", u, err)
	}
}

func wantReq(t *testing.T, f *fakeAPI, method, uri, body string) {
	t.Helper()
	got := f.last()
	if got.Method != method || got.URI != uri || got.Body != body || !got.Signed {
		t.Fatalf("server saw %s %s (signed %v, body %.60q), want signed %s %s (body %.60q)", got.Method, got.URI, got.Signed, got.Body, method, uri, body)
	}
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	f := newFakeAPI(t)
	f.seed(t, "pics", false, map[string]string{"k": "v"})
	c := NewClient(f.config(), nil)
	badKey := NewClient(Config{Endpoint: f.srv.URL, AK: adminAK, SK: "wrong"}, nil)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	unreachable := NewClient(Config{Endpoint: closed.URL, AK: "a", SK: "b"}, nil)
	tests := []struct {
		name string
		call func() error
		code int
		msg  string
	}{
		{"no such bucket", func() error {
			_, err := c.PutObject(ctx, "nope", "k", strings.NewReader("x"), "", nil)
			return err
		}, 404, `no such bucket "nope"`},
		{"exists", func() error { _, err := c.CreateBucket(ctx, "pics", BucketOptions{}); return err }, 409, `bucket "pics" exists`},
		{"not empty", func() error { return c.DeleteBucket(ctx, "pics", false) }, 409, `bucket "pics" is not empty: delete its objects first`},
		{"bad secret", func() error { _, err := badKey.Whoami(ctx); return err }, 401, `signature does not match for access key "AKadmin": check the secret key`},
		{"head missing", func() error { _, err := c.StatObject(ctx, "pics", "nope"); return err }, 404, "Not Found"},
		{"unreachable", func() error { _, err := unreachable.Whoami(ctx); return err }, 0, "cannot reach " + closed.URL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("no error")
			}
			var ae *APIError
			if tt.code == 0 {
				if errors.As(err, &ae) || !strings.HasPrefix(err.Error(), tt.msg) {
					t.Fatalf("error %q, want a transport error starting %q", err, tt.msg)
				}
				return
			}
			if !errors.As(err, &ae) || ae.Code != tt.code || ae.Message != tt.msg || !strings.HasPrefix(ae.Reqid, "req-") {
				t.Fatalf("error %#v, want APIError %d %q with a reqid", err, tt.code, tt.msg)
			}
		})
	}
}

// A download whose bytes do not match its ETag fails at EOF.
func TestGetObjectCorrupt(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"`+sum([]byte("the real content"))+`"`)
		io.WriteString(w, "the real c0ntent")
	}))
	defer srv.Close()
	c := NewClient(Config{Endpoint: srv.URL, AK: "a", SK: "b"}, nil)
	rc, _, err := c.GetObject(context.Background(), "b", "k")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); err == nil || !strings.Contains(err.Error(), "download is corrupt") {
		t.Fatalf("reading a corrupt download: %v, want a corruption error", err)
	}
}

func TestAdminEndpoint(t *testing.T) {
	f := newFakeAPI(t)
	c := NewClient(Config{Endpoint: "http://127.0.0.1:1", AdminEndpoint: f.srv.URL + "/", AK: adminAK, SK: adminSK}, nil)
	if _, err := c.Whoami(context.Background()); err != nil {
		t.Fatalf("Whoami through AdminEndpoint: %v", err)
	}
}
