package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/internal/testneed"
)

const imagesDir = "../../shared/testdata/images"

func newStore(t testing.TB, cfg Config) *Disk {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newBucket(t testing.TB, s *Disk, bucket string) {
	t.Helper()
	if err := s.CreateBucket(context.Background(), bucket); err != nil {
		t.Fatalf("CreateBucket(%q): %v", bucket, err)
	}
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func wantKind(t *testing.T, err error, kind ufop.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want kind %v", kind)
	}
	if got := ufop.KindOf(err); got != kind {
		t.Fatalf("error %q has kind %v, want %v", err, got, kind)
	}
}

// tempFiles lists the temp files anywhere in the store.
func tempFiles(t *testing.T, s *Disk) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(s.cfg.Dir, "*", "*", tempPrefix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"defaults", Config{Dir: "/tmp/x"}, false},
		{"no dir", Config{}, true},
		{"negative max", Config{Dir: "/tmp/x", MaxObjectBytes: -1}, true},
		{"explicit max", Config{Dir: "/tmp/x", MaxObjectBytes: 10}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

func TestValidateKey(t *testing.T) {
	tests := []struct {
		key string
		ok  bool
	}{
		{"a", true},
		{"a/b/c.jpg", true},
		{"/leading/slash", true},
		{"trailing/", true},
		{"a b/ü.jpg", true},
		{"漢字/写真.png", true},
		{"..a/b..", true},
		{".", true},
		{"...", true},
		{strings.Repeat("k", MaxKeyBytes), true},
		{"", false},
		{"..", false},
		{"a/../b", false},
		{"../a", false},
		{"a/..", false},
		{"a\x00b", false},
		{"bad\xffutf8", false},
		{strings.Repeat("k", MaxKeyBytes+1), false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.20q", tt.key), func(t *testing.T) {
			err := ValidateKey(tt.key)
			if tt.ok && err != nil {
				t.Fatalf("ValidateKey(%q) = %v, want nil", tt.key, err)
			}
			if !tt.ok {
				wantKind(t, err, ufop.KindInvalid)
			}
		})
	}
}

func TestValidateBucketName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"abc", true},
		{"pics-2024", true},
		{"a-b", true},
		{strings.Repeat("a", 63), true},
		{"ab", false},
		{strings.Repeat("a", 64), false},
		{"-abc", false},
		{"abc-", false},
		{"Abc", false},
		{"a_bc", false},
		{"a.bc", false},
		{"../x", false},
		{"ab/c", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateBucketName(tt.name)
			if tt.ok && err != nil {
				t.Fatalf("ValidateBucketName(%q) = %v", tt.name, err)
			}
			if !tt.ok {
				wantKind(t, err, ufop.KindInvalid)
			}
		})
	}
}

func TestPutGetStatDelete(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	newBucket(t, s, "pics")
	tests := []struct {
		name, key, ctype string
		body             []byte
		wantType         string
	}{
		{"plain", "a.txt", "", []byte("hello, world\n"), "text/plain; charset=utf-8"},
		{"explicit type", "x.bin", "application/x-custom", []byte{1, 2, 3}, "application/x-custom"},
		{"empty body", "empty", "", nil, "text/plain; charset=utf-8"},
		{"nested key", "a/b", "", []byte("nested"), "text/plain; charset=utf-8"},
		{"utf8 key", "a b/ü/漢字.jpg", "image/jpeg", []byte("not really a jpeg"), "image/jpeg"},
		{"png sniffed", "p.png", "", append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 600)...), "image/png"},
		{"large", "big", "", bytes.Repeat([]byte("0123456789abcdef"), 1<<16), "text/plain; charset=utf-8"},
		// JSON escapes each \x01 to six bytes: the trailer outgrows the
		// tail that readMeta reads at once.
		{"long escaped key", strings.Repeat("\x01", MaxKeyBytes), "", bytes.Repeat([]byte("y"), 5000), "text/plain; charset=utf-8"},
		{"long escaped key, small body", strings.Repeat("\x02", MaxKeyBytes), "", []byte("s"), "text/plain; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now().Add(-time.Second)
			obj, err := s.Put(ctx, "pics", tt.key, bytes.NewReader(tt.body), PutOptions{ContentType: tt.ctype})
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			want := ufop.Object{Bucket: "pics", Key: tt.key, Size: int64(len(tt.body)), ETag: sha(tt.body), ContentType: tt.wantType, Modified: obj.Modified}
			if obj != want {
				t.Fatalf("Put = %+v, want %+v", obj, want)
			}
			if obj.Modified.Before(before) || obj.Modified.After(time.Now().Add(time.Second)) {
				t.Fatalf("Modified %v is not now", obj.Modified)
			}
			st, err := s.Stat(ctx, "pics", tt.key)
			if err != nil || !st.Modified.Equal(obj.Modified) {
				t.Fatalf("Stat = %+v, %v; want %+v", st, err, obj)
			}
			st.Modified = obj.Modified
			if st != obj {
				t.Fatalf("Stat = %+v, want %+v", st, obj)
			}
			r, err := s.Get(ctx, "pics", tt.key)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, tt.body) {
				t.Fatalf("Get read %d bytes (err %v), want %d", len(got), err, len(tt.body))
			}
			if r.ETag != obj.ETag || r.Size != obj.Size {
				t.Fatalf("Reader object %+v, want %+v", r.Object, obj)
			}
		})
	}
	// "a" and "a/b" must not collide.
	if _, err := s.Put(ctx, "pics", "a", strings.NewReader("just a"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"a": "just a", "a/b": "nested"} {
		r, err := s.Get(ctx, "pics", key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		if string(b) != want {
			t.Fatalf("Get(%q) = %q, want %q", key, b, want)
		}
	}
	for _, tt := range tests {
		if err := s.Delete(ctx, "pics", tt.key); err != nil {
			t.Fatalf("Delete(%q): %v", tt.key, err)
		}
		_, err := s.Stat(ctx, "pics", tt.key)
		wantKind(t, err, ufop.KindNotFound)
	}
}

func TestPutSniffsRealImages(t *testing.T) {
	testneed.SharedImages(t)
	if _, err := os.Stat(imagesDir); err != nil {
		t.Skipf("test images not found at %s: %v", imagesDir, err)
	}
	s := newStore(t, Config{})
	newBucket(t, s, "pics")
	tests := []struct{ file, want string }{
		{"portrait.jpg", "image/jpeg"},
		{"portrait.png", "image/png"},
		{"animated.gif", "image/gif"},
		{"image.webp", "image/webp"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(imagesDir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			obj, err := s.Put(context.Background(), "pics", tt.file, bytes.NewReader(data), PutOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if obj.ContentType != tt.want || obj.ETag != sha(data) {
				t.Fatalf("Put = %+v, want type %s etag %s", obj, tt.want, sha(data))
			}
		})
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{MaxObjectBytes: 100})
	newBucket(t, s, "pics")
	if _, err := s.Put(ctx, "pics", "k", strings.NewReader("v"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	errVerify := ufop.Errorf(ufop.KindInvalid, "upload: body does not match its hash")
	tests := []struct {
		name    string
		op      func() error
		kind    ufop.Kind
		message string
	}{
		{"get missing key", func() error { _, err := s.Get(ctx, "pics", "nope"); return err },
			ufop.KindNotFound, `no such key "nope" in bucket "pics"`},
		{"get missing bucket", func() error { _, err := s.Get(ctx, "nobucket", "k"); return err },
			ufop.KindNotFound, `no such bucket "nobucket"`},
		{"stat missing key", func() error { _, err := s.Stat(ctx, "pics", "nope"); return err },
			ufop.KindNotFound, `no such key "nope" in bucket "pics"`},
		{"delete missing key", func() error { return s.Delete(ctx, "pics", "nope") },
			ufop.KindNotFound, `no such key "nope" in bucket "pics"`},
		{"delete missing bucket", func() error { return s.Delete(ctx, "nobucket", "k") },
			ufop.KindNotFound, `no such bucket "nobucket"`},
		{"put missing bucket", func() error {
			_, err := s.Put(ctx, "nobucket", "k", strings.NewReader("v"), PutOptions{})
			return err
		}, ufop.KindNotFound, `no such bucket "nobucket"`},
		{"list missing bucket", func() error { _, _, err := s.List(ctx, "nobucket", "", "", 0); return err },
			ufop.KindNotFound, `no such bucket "nobucket"`},
		{"put bad key", func() error {
			_, err := s.Put(ctx, "pics", "a/../b", strings.NewReader("v"), PutOptions{})
			return err
		}, ufop.KindInvalid, `key: "a/../b" has a ".." path component`},
		{"get bad bucket", func() error { _, err := s.Get(ctx, "Bad_Bucket", "k"); return err },
			ufop.KindInvalid, `bucket name "Bad_Bucket": use only lower-case letters, digits and '-'`},
		{"too large", func() error {
			_, err := s.Put(ctx, "pics", "big", bytes.NewReader(make([]byte, 101)), PutOptions{})
			return err
		}, ufop.KindTooLarge, `upload of "big" to bucket "pics" is larger than the 100 bytes limit`},
		{"verify refuses", func() error {
			_, err := s.Put(ctx, "pics", "verified", strings.NewReader("v"), PutOptions{Verify: func(string) error { return errVerify }})
			return err
		}, ufop.KindInvalid, "upload: body does not match its hash"},
		{"long content type", func() error {
			_, err := s.Put(ctx, "pics", "ct", strings.NewReader("v"), PutOptions{ContentType: strings.Repeat("x", 300)})
			return err
		}, ufop.KindInvalid, "put pics/ct: content type is longer than 256 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			wantKind(t, err, tt.kind)
			if got := ufop.Message(err); got != tt.message {
				t.Fatalf("message %q, want %q", got, tt.message)
			}
		})
	}
	// Failed puts leave neither an object nor a temp file behind.
	for _, key := range []string{"big", "verified"} {
		if _, err := s.Stat(ctx, "pics", key); ufop.KindOf(err) != ufop.KindNotFound {
			t.Fatalf("Stat(%q) after failed put: %v, want not found", key, err)
		}
	}
	if tf := tempFiles(t, s); len(tf) != 0 {
		t.Fatalf("temp files left: %v", tf)
	}
	// Exactly at the limit is fine.
	if _, err := s.Put(ctx, "pics", "edge", bytes.NewReader(make([]byte, 100)), PutOptions{}); err != nil {
		t.Fatalf("put of exactly MaxObjectBytes: %v", err)
	}
}

func TestVerifyGetsHash(t *testing.T) {
	s := newStore(t, Config{})
	newBucket(t, s, "pics")
	body := []byte("verify me")
	var got string
	obj, err := s.Put(context.Background(), "pics", "k", bytes.NewReader(body), PutOptions{Verify: func(h string) error {
		got = h
		// Not visible yet: Verify runs before the rename.
		if _, err := s.Stat(context.Background(), "pics", "k"); ufop.KindOf(err) != ufop.KindNotFound {
			return fmt.Errorf("object visible during Verify: %v", err)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got != sha(body) || obj.ETag != got {
		t.Fatalf("Verify got %q, object etag %q, want %q", got, obj.ETag, sha(body))
	}
}

// cancelingReader cancels its context after the first read.
type cancelingReader struct {
	cancel context.CancelFunc
	n      int
}

func (c *cancelingReader) Read(p []byte) (int, error) {
	c.n++
	if c.n > 1 {
		c.cancel()
	}
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func TestPutCanceled(t *testing.T) {
	s := newStore(t, Config{})
	newBucket(t, s, "pics")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := s.Put(ctx, "pics", "k", &cancelingReader{cancel: cancel}, PutOptions{ContentType: "a/b"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with canceled context: %v, want context.Canceled", err)
	}
	if tf := tempFiles(t, s); len(tf) != 0 {
		t.Fatalf("temp files left: %v", tf)
	}
	if _, err := s.Stat(context.Background(), "pics", "k"); ufop.KindOf(err) != ufop.KindNotFound {
		t.Fatalf("object exists after canceled put: %v", err)
	}
}

func TestList(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	newBucket(t, s, "pics")
	newBucket(t, s, "empty")
	keys := []string{"a", "a/b", "a/c", "b/1.jpg", "b/2.jpg", "b/3.jpg", "c", "ü"}
	for _, k := range keys {
		if _, err := s.Put(ctx, "pics", k, strings.NewReader(k), PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name           string
		bucket         string
		prefix, marker string
		limit          int
		want           []string
		next           string
	}{
		{"all", "pics", "", "", 0, keys, ""},
		{"prefix", "pics", "b/", "", 0, []string{"b/1.jpg", "b/2.jpg", "b/3.jpg"}, ""},
		{"prefix a", "pics", "a", "", 0, []string{"a", "a/b", "a/c"}, ""},
		{"page 1", "pics", "", "", 3, []string{"a", "a/b", "a/c"}, "a/c"},
		{"page 2", "pics", "", "a/c", 3, []string{"b/1.jpg", "b/2.jpg", "b/3.jpg"}, "b/3.jpg"},
		{"page 3", "pics", "", "b/3.jpg", 3, []string{"c", "ü"}, ""},
		{"exact page", "pics", "b/", "", 3, []string{"b/1.jpg", "b/2.jpg", "b/3.jpg"}, ""},
		{"prefix and marker", "pics", "b/", "b/1.jpg", 1, []string{"b/2.jpg"}, "b/2.jpg"},
		{"no match", "pics", "zzz", "", 0, nil, ""},
		{"empty bucket", "empty", "", "", 0, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, next, err := s.List(ctx, tt.bucket, tt.prefix, tt.marker, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.Key)
				if o.Bucket != tt.bucket || o.Size != int64(len(o.Key)) || o.ETag != sha([]byte(o.Key)) {
					t.Fatalf("object %+v has wrong metadata", o)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || next != tt.next {
				t.Fatalf("List = %q next %q, want %q next %q", got, next, tt.want, tt.next)
			}
		})
	}
}

func TestDeleteBucket(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	newBucket(t, s, "pics")
	newBucket(t, s, "pics") // idempotent
	if _, err := s.Put(ctx, "pics", "k", strings.NewReader("v"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	err := s.DeleteBucket(ctx, "pics")
	wantKind(t, err, ufop.KindConflict)
	if err := s.Delete(ctx, "pics", "k"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBucket(ctx, "pics"); err != nil {
		t.Fatalf("DeleteBucket of an emptied bucket: %v", err)
	}
	wantKind(t, s.DeleteBucket(ctx, "pics"), ufop.KindNotFound)
	_, err = s.Put(ctx, "pics", "k", strings.NewReader("v"), PutOptions{})
	wantKind(t, err, ufop.KindNotFound)
	if _, err := os.Stat(filepath.Join(s.cfg.Dir, "pics")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("put into a deleted bucket recreated its directory: %v", err)
	}
	wantKind(t, s.CreateBucket(ctx, "-bad"), ufop.KindInvalid)
}

// A put whose body is still streaming when its bucket is deleted fails
// with not found, and the bucket stays deleted.
func TestDeleteBucketDuringPut(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	newBucket(t, s, "pics")
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := s.Put(ctx, "pics", "k", pr, PutOptions{ContentType: "a/b"})
		done <- err
	}()
	if _, err := pw.Write([]byte("first part")); err != nil { // the put is now streaming
		t.Fatal(err)
	}
	if err := s.DeleteBucket(ctx, "pics"); err != nil {
		t.Fatalf("DeleteBucket with only a put in progress: %v", err)
	}
	pw.Close()
	wantKind(t, <-done, ufop.KindNotFound)
	if _, err := os.Stat(filepath.Join(s.cfg.Dir, "pics")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("bucket directory exists after delete: %v", err)
	}
}

// Parallel puts of one key: every reader sees one complete version.
func TestConcurrentPutsSameKey(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	newBucket(t, s, "pics")
	const writers, rounds = 8, 10
	versions := make(map[string][]byte) // etag → body
	bodies := make([][]byte, writers)
	for i := range bodies {
		// Different sizes, so a torn read shows as a size or hash mismatch.
		bodies[i] = bytes.Repeat([]byte{byte('a' + i)}, 1000*(i+1)+7)
		versions[sha(bodies[i])] = bodies[i]
	}
	if _, err := s.Put(ctx, "pics", "k", bytes.NewReader(bodies[0]), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers+2)
	stop := make(chan struct{})
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				if _, err := s.Put(ctx, "pics", "k", bytes.NewReader(bodies[i]), PutOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}(i)
	}
	var readers sync.WaitGroup
	reads := make([]int, 2)
	for i := range reads {
		readers.Add(1)
		go func(i int) {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := s.Get(ctx, "pics", "k")
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(r)
				r.Close()
				want, ok := versions[r.ETag]
				if err != nil || !ok || !bytes.Equal(b, want) || int64(len(b)) != r.Size {
					errs <- fmt.Errorf("torn read: %d bytes, etag %s, err %v", len(b), r.ETag, err)
					return
				}
				reads[i]++
			}
		}(i)
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if reads[0]+reads[1] == 0 {
		t.Fatal("readers never read")
	}
	if tf := tempFiles(t, s); len(tf) != 0 {
		t.Fatalf("temp files left: %v", tf)
	}
}

// Temp files left by a crash are ignored by reads and lists, do not block
// DeleteBucket, and are removed by New once stale.
func TestLeftoverTempFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := newStore(t, Config{Dir: dir})
	newBucket(t, s, "pics")
	if _, err := s.Put(ctx, "pics", "k", strings.NewReader("v"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	fan, _ := s.objectPath("pics", "k")
	stale := filepath.Join(fan, tempPrefix+"crashed")
	fresh := filepath.Join(fan, tempPrefix+"inflight")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("half an upl"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleTempAge)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	objs, _, err := s.List(ctx, "pics", "", "", 0)
	if err != nil || len(objs) != 1 || objs[0].Key != "k" {
		t.Fatalf("List with temp files = %+v, %v", objs, err)
	}
	s2 := newStore(t, Config{Dir: dir}) // a restart
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale temp file survived New: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatalf("fresh temp file (maybe a put in progress) removed by New: %v", err)
	}
	if err := s2.Delete(ctx, "pics", "k"); err != nil {
		t.Fatal(err)
	}
	if err := s2.DeleteBucket(ctx, "pics"); err != nil {
		t.Fatalf("DeleteBucket with only temp files: %v", err)
	}
}

func TestCorruptObjectFile(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	newBucket(t, s, "pics")
	for _, k := range []string{"good", "bad"} {
		if _, err := s.Put(ctx, "pics", k, strings.NewReader(k), PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, path := s.objectPath("pics", "bad")
	if err := os.Truncate(path, 5); err != nil {
		t.Fatal(err)
	}
	_, err := s.Get(ctx, "pics", "bad")
	wantKind(t, err, ufop.KindInternal)
	objs, _, err := s.List(ctx, "pics", "", "", 0)
	if err != nil || len(objs) != 1 || objs[0].Key != "good" {
		t.Fatalf("List with a corrupt file = %+v, %v; want only good", objs, err)
	}
}

// Reader serves ranges through http.ServeContent and keeps reading the
// version it opened after the object is replaced.
func TestReaderServeContent(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{})
	newBucket(t, s, "pics")
	body := []byte("0123456789")
	if _, err := s.Put(ctx, "pics", "k", bytes.NewReader(body), PutOptions{ContentType: "text/plain"}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Get(ctx, "pics", "k")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := s.Put(ctx, "pics", "k", strings.NewReader("replaced"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rng  string
		code int
		want string
	}{
		{"", 200, "0123456789"},
		{"bytes=2-4", 206, "234"},
		{"bytes=-3", 206, "789"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "/pics/k", nil)
		if tt.rng != "" {
			req.Header.Set("Range", tt.rng)
		}
		rec := httptest.NewRecorder()
		http.ServeContent(rec, req, r.Key, r.Modified, r)
		if rec.Code != tt.code || rec.Body.String() != tt.want {
			t.Fatalf("range %q: %d %q, want %d %q", tt.rng, rec.Code, rec.Body.String(), tt.code, tt.want)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestClosed(t *testing.T) {
	s := newStore(t, Config{})
	newBucket(t, s, "pics")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := s.Get(context.Background(), "pics", "k")
	wantKind(t, err, ufop.KindUnavailable)
}

func BenchmarkPut(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		b.Run(ufop.FormatBytes(int64(size)), func(b *testing.B) {
			s := newStore(b, Config{})
			newBucket(b, s, "bench")
			body := bytes.Repeat([]byte("x"), size)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.Put(context.Background(), "bench", fmt.Sprintf("k%d", i%100), bytes.NewReader(body), PutOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkGet(b *testing.B) {
	s := newStore(b, Config{})
	newBucket(b, s, "bench")
	body := bytes.Repeat([]byte("x"), 64<<10)
	if _, err := s.Put(context.Background(), "bench", "k", bytes.NewReader(body), PutOptions{}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := s.Get(context.Background(), "bench", "k")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}

func BenchmarkList1000(b *testing.B) {
	s := newStore(b, Config{})
	newBucket(b, s, "bench")
	for i := 0; i < 1000; i++ {
		if _, err := s.Put(context.Background(), "bench", fmt.Sprintf("dir/%04d.jpg", i), strings.NewReader("x"), PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := s.List(context.Background(), "bench", "dir/", "", 100); err != nil {
			b.Fatal(err)
		}
	}
}
