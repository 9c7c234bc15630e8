package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/egress"
	"github.com/ufop/ufop/storage"
)

func TestParseSource(t *testing.T) {
	tests := []struct {
		raw     string
		want    Spec
		errPart string
	}{
		{raw: "s3://src/photos?endpoint=http://127.0.0.1:7070", want: Spec{Scheme: SchemeS3, Bucket: "src", Prefix: "photos/", Endpoint: "http://127.0.0.1:7070"}},
		{raw: "s3://src?endpoint=https://s3.example.com&region=eu-west-1", want: Spec{Scheme: SchemeS3, Bucket: "src", Endpoint: "https://s3.example.com", Region: "eu-west-1"}},
		{raw: "http://origin.example.com/img", want: Spec{Scheme: SchemeHTTP, Base: "http://origin.example.com/img/"}},
		{raw: "https://origin.example.com", want: Spec{Scheme: SchemeHTTP, Base: "https://origin.example.com/"}},
		{raw: "file:///srv/photos", want: Spec{Scheme: SchemeFile, Dir: "/srv/photos"}},
		{raw: "", errPart: "--from is required"},
		{raw: "ftp://host/x", errPart: `unknown scheme "ftp"`},
		{raw: "/just/a/path", errPart: "no scheme"},
		{raw: "s3://?endpoint=http://h", errPart: "no bucket"},
		{raw: "s3://b", errPart: "endpoint is required"},
		{raw: "s3://b?endpoint=ftp://h", errPart: "not an http(s) URL"},
		{raw: "s3://b?endpoint=http://h&acl=x", errPart: `unknown parameter "acl"`},
		{raw: "s3://ak:sk@b?endpoint=http://h", errPart: "credentials"},
		{raw: "http:///nohost", errPart: "no host"},
		{raw: "http://h/p?x=1", errPart: "query"},
		{raw: "file://host/dir", errPart: "no host"},
		{raw: "file:relative", errPart: "absolute path"},
		{raw: "http://h/%zz", errPart: "not a URL"},
	}
	for _, tt := range tests {
		got, err := ParseSource(tt.raw)
		if tt.errPart != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errPart) || ufop.KindOf(err) != ufop.KindInvalid {
				t.Errorf("ParseSource(%q) err = %v, want KindInvalid containing %q", tt.raw, err, tt.errPart)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSource(%q): %v", tt.raw, err)
			continue
		}
		tt.want.Raw = tt.raw
		if got != tt.want {
			t.Errorf("ParseSource(%q) = %+v, want %+v", tt.raw, got, tt.want)
		}
	}
}

func TestListScanner(t *testing.T) {
	tests := []struct {
		in      string
		keys    []string
		errPart string
	}{
		{in: "a\nb\r\n\n  \nc", keys: []string{"a", "b", "c"}},
		{in: "", keys: nil},
		{in: "x y/z.jpg\n", keys: []string{"x y/z.jpg"}},
		{in: "ok\n" + strings.Repeat("k", MaxListLine+1) + "\n", keys: []string{"ok"}, errPart: "line 2: longer than"},
		{in: "ok\nbad\xff\n", keys: []string{"ok"}, errPart: "line 2: not valid UTF-8"},
	}
	for _, tt := range tests {
		s := NewListScanner(strings.NewReader(tt.in), 0)
		var got []string
		for s.Scan() {
			got = append(got, s.Key())
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.keys) {
			t.Errorf("%q: keys %q, want %q", tt.in, got, tt.keys)
		}
		if err := s.Err(); (tt.errPart == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.errPart)) {
			t.Errorf("%q: err %v, want %q", tt.in, err, tt.errPart)
		}
	}
	// Offsets let a scan resume where another stopped.
	in := "one\ntwo\r\nthree\n"
	s := NewListScanner(strings.NewReader(in), 0)
	s.Scan()
	off := s.Offset()
	s2 := NewListScanner(strings.NewReader(in[off:]), off)
	var rest []string
	for s2.Scan() {
		rest = append(rest, s2.Key())
	}
	if fmt.Sprint(rest) != "[two three]" || s2.Offset() != int64(len(in)) {
		t.Fatalf("resumed scan = %q at %d", rest, s2.Offset())
	}
}

// TestDirSourceKeyOrder: keys come in byte order across directories ("a-b"
// before "a/", "a/" before "a0"), in pages that resume after a key.
func TestDirSourceKeyOrder(t *testing.T) {
	dir := t.TempDir()
	for _, k := range []string{"a/x", "a/y/z", "a-b", "a0", "b", "A", "a/y0"} {
		p := filepath.Join(dir, filepath.FromSlash(k))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(k), 0o644)
	}
	os.Mkdir(filepath.Join(dir, "empty"), 0o755)
	src, err := newDirSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	pos := ""
	for pages := 0; ; pages++ {
		es, next, done, err := src.Page(context.Background(), pos, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			all = append(all, e.Key)
		}
		pos = next
		if done {
			break
		}
		if pages > 10 {
			t.Fatal("no end")
		}
	}
	want := "[A a-b a/x a/y/z a/y0 a0 b]"
	if fmt.Sprint(all) != want {
		t.Fatalf("keys %v, want %s", all, want)
	}
	if _, _, err := src.Open(context.Background(), "../etc/passwd"); ufop.KindOf(err) != ufop.KindInvalid {
		t.Fatalf("open ../: %v", err)
	}
	if _, err := newDirSource(filepath.Join(dir, "nope")); ufop.KindOf(err) != ufop.KindNotFound {
		t.Fatalf("missing dir: %v", err)
	}
}

func TestSameETag(t *testing.T) {
	md := "0123456789abcdef0123456789abcdef"
	sha := strings.Repeat("ab", 32)
	tests := []struct {
		a, b    string
		cmp, eq bool
	}{
		{md, `"` + strings.ToUpper(md) + `"`, true, true},
		{md, strings.Repeat("0", 32), true, false},
		{md, sha, false, false},
		{"", "", false, false},
		{md + "-2", md + "-2", false, false},
		{sha, sha, true, true},
	}
	for _, tt := range tests {
		if cmp, eq := sameETag(tt.a, tt.b); cmp != tt.cmp || eq != tt.eq {
			t.Errorf("sameETag(%q, %q) = %v, %v", tt.a, tt.b, cmp, eq)
		}
	}
}

func loopbackPolicy() *egress.Policy {
	return egress.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})
}

// TestHTTPSourceBadOrigins: each failure names the origin URL with the
// right kind; only loopback is dialled.
func TestHTTPSourceBadOrigins(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "secret") }))
	defer target.Close()
	_, port, _ := strings.Cut(strings.TrimPrefix(target.URL, "http://"), ":")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/p/ok.jpg":
			io.WriteString(w, "fine")
		case "/p/big.jpg":
			w.Header().Set("Content-Length", "2000")
			w.Write(make([]byte, 2000))
		case "/p/chunked.jpg": // no Content-Length: caught while reading
			w.(http.Flusher).Flush()
			for range 4 {
				w.Write(make([]byte, 500))
				w.(http.Flusher).Flush()
			}
		case "/p/redirect.jpg":
			http.Redirect(w, r, "http://127.0.0.2:"+port+"/", http.StatusFound)
		case "/p/boom.jpg":
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	src := newHTTPSource(srv.URL+"/p/", loopbackPolicy(), 1000, nil)
	defer src.Close()
	ctx := context.Background()

	rc, e, err := src.Open(ctx, "ok.jpg")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "fine" || e.Size != 4 {
		t.Fatalf("ok.jpg = %q, %+v", b, e)
	}
	tests := []struct {
		key  string
		kind ufop.Kind
		part string
	}{
		{"big.jpg", ufop.KindTooLarge, "over the object limit"},
		{"chunked.jpg", ufop.KindTooLarge, "over the object limit"},
		{"redirect.jpg", ufop.KindPermission, "127.0.0.2"},
		{"missing.jpg", ufop.KindNotFound, "404"},
		{"boom.jpg", ufop.KindUpstream, "500"},
	}
	for _, tt := range tests {
		rc, _, err := src.Open(ctx, tt.key)
		if err == nil {
			_, err = io.ReadAll(rc)
			rc.Close()
		}
		if ufop.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.part) || !strings.Contains(err.Error(), tt.key) {
			t.Errorf("%s: err = %v (kind %v), want %v naming the URL and %q", tt.key, err, ufop.KindOf(err), tt.kind, tt.part)
		}
	}
	// Without the operator's allowance, loopback itself is refused.
	strict := newHTTPSource(srv.URL+"/p/", egress.New(nil), 1000, nil)
	defer strict.Close()
	if _, _, err := strict.Open(ctx, "ok.jpg"); ufop.KindOf(err) != ufop.KindPermission {
		t.Fatalf("default policy: %v, want a refusal", err)
	}
}

// flakySource fails the first n opens with a retryable error (a unit-test
// fake of an origin).
type flakySource struct {
	fails atomic.Int64
	kind  ufop.Kind
}

func (f *flakySource) Page(context.Context, string, int) ([]Entry, string, bool, error) {
	return nil, "", true, nil
}
func (f *flakySource) Sorted() bool { return true }
func (f *flakySource) Close() error { return nil }
func (f *flakySource) Open(_ context.Context, key string) (io.ReadCloser, Entry, error) {
	if f.fails.Add(-1) >= 0 {
		return nil, Entry{}, ufop.Errorf(f.kind, "origin hiccup")
	}
	return io.NopCloser(strings.NewReader("body of " + key)), Entry{Key: key, Size: int64(len("body of " + key))}, nil
}

func TestCopierRetriesThenFails(t *testing.T) {
	disk, err := storage.New(storage.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	ctx := context.Background()
	disk.CreateBucket(ctx, "dst")
	c := Copier{Store: disk, Attempts: 4, Backoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}
	tests := []struct {
		name  string
		fails int64
		kind  ufop.Kind
		want  string
	}{
		{"k1", 3, ufop.KindUnavailable, "copied"},
		{"k2", 4, ufop.KindUnavailable, "failed:origin hiccup (after 4 attempts)"},
		{"k3", 1, ufop.KindNotFound, "failed:origin hiccup"},
		{"k4", 0, 0, "copied"},
		{"k4", 0, 0, "skipped"},
		{"..", 0, 0, "failed:not a valid ufop key"},
	}
	for _, tt := range tests {
		src := &flakySource{kind: tt.kind}
		src.fails.Store(tt.fails)
		d, err := c.Copy(ctx, src, "dst", Entry{Key: tt.name, Size: -1})
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		switch {
		case d.Copied == 1:
			got = "copied"
		case d.Skipped == 1:
			got = "skipped"
		case d.Failed == 1:
			got = "failed:" + d.Failures[0].Reason
		}
		if !strings.HasPrefix(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	if !retryable(statusErr(503)) || retryable(statusErr(403)) || !retryable(errors.New("conn reset")) {
		t.Error("retryable misjudges")
	}
}
