// Package storetest is the conformance suite of storage.Store: every
// backend runs it (storage's Disk and S3 tests do), so they behave alike.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/storage"
)

// NewStore returns a fresh, empty store for one test whose objects are at
// most maxObjectBytes (0: the backend's default). Its multipart (or
// equivalent) threshold should be at most BigObject so that the suite
// covers that path.
type NewStore func(t *testing.T, maxObjectBytes int64) storage.Store

// BigObject is the size the suite uses for objects that must take a
// backend's multi-part path.
const BigObject = 12 << 20

// Run runs the suite against stores made by newStore.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, NewStore)
	}{
		{"PutGetStatDelete", testPutGetStatDelete},
		{"BigObject", testBigObject},
		{"Kinds", testKinds},
		{"List", testList},
		{"OddKeys", testOddKeys},
		{"Ranges", testRanges},
		{"Copy", testCopy},
		{"OverwriteAtomic", testOverwriteAtomic},
		{"CancelledUpload", testCancelledUpload},
		{"FailingBody", testFailingBody},
		{"TooLarge", testTooLarge},
		{"Verify", testVerify},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore) })
	}
}

var ctx = context.Background()

func bucket(t *testing.T, s storage.Store, name string) {
	t.Helper()
	if err := s.CreateBucket(ctx, name); err != nil {
		t.Fatalf("CreateBucket(%q): %v", name, err)
	}
}

func put(t *testing.T, s storage.Store, b, k string, data []byte) ufop.Object {
	t.Helper()
	obj, err := s.Put(ctx, b, k, bytes.NewReader(data), storage.PutOptions{})
	if err != nil {
		t.Fatalf("Put(%s, %.40q): %v", b, k, err)
	}
	return obj
}

func get(t *testing.T, s storage.Store, b, k string) []byte {
	t.Helper()
	rd, err := s.Get(ctx, b, k)
	if err != nil {
		t.Fatalf("Get(%s, %.40q): %v", b, k, err)
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	if err != nil {
		t.Fatalf("read %s/%.40q: %v", b, k, err)
	}
	return data
}

func wantKind(t *testing.T, what string, err error, kind ufop.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got nil error, want kind %v", what, kind)
	}
	if got := ufop.KindOf(err); got != kind {
		t.Fatalf("%s: error %q has kind %v, want %v", what, err, got, kind)
	}
}

func wantMissing(t *testing.T, s storage.Store, b, k string) {
	t.Helper()
	_, err := s.Stat(ctx, b, k)
	wantKind(t, fmt.Sprintf("Stat(%s, %.40q)", b, k), err, ufop.KindNotFound)
	objs, _, err := s.List(ctx, b, k, "", 0)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, o := range objs {
		if o.Key == k {
			t.Fatalf("List shows %.40q, which must not exist", k)
		}
	}
}

func random(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// png is the head of a PNG file, for content sniffing.
var png = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 100)...)

func testPutGetStatDelete(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	bucket(t, s, "photos")
	obj := put(t, s, "photos", "cat.png", png)
	if obj.Bucket != "photos" || obj.Key != "cat.png" || obj.Size != int64(len(png)) || obj.ETag == "" {
		t.Fatalf("Put returned %+v", obj)
	}
	if obj.ContentType != "image/png" {
		t.Errorf("sniffed content type %q, want image/png", obj.ContentType)
	}
	if got := get(t, s, "photos", "cat.png"); !bytes.Equal(got, png) {
		t.Fatalf("Get returned %d bytes, want the %d put", len(got), len(png))
	}
	st, err := s.Stat(ctx, "photos", "cat.png")
	if err != nil {
		t.Fatal(err)
	}
	if st.Size != obj.Size || st.ETag != obj.ETag || st.ContentType != "image/png" || st.Modified.IsZero() {
		t.Fatalf("Stat = %+v, Put gave %+v", st, obj)
	}
	rd, err := s.Get(ctx, "photos", "cat.png")
	if err != nil {
		t.Fatal(err)
	}
	if rd.Size != obj.Size || rd.ETag != obj.ETag || rd.ContentType != "image/png" {
		t.Fatalf("Reader's object = %+v, want %+v", rd.Object, obj)
	}
	rd.Close()
	if err := rd.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// An explicit content type is kept; new content gets a new ETag.
	obj2, err := s.Put(ctx, "photos", "cat.png", strings.NewReader("not a png"), storage.PutOptions{ContentType: "text/x-test"})
	if err != nil {
		t.Fatal(err)
	}
	if obj2.ETag == obj.ETag || obj2.ContentType != "text/x-test" {
		t.Fatalf("overwrite gave %+v (old ETag %s)", obj2, obj.ETag)
	}
	if st, _ := s.Stat(ctx, "photos", "cat.png"); st.ContentType != "text/x-test" || st.Size != 9 {
		t.Fatalf("Stat after overwrite = %+v", st)
	}
	// An empty object.
	if o := put(t, s, "photos", "empty", nil); o.Size != 0 {
		t.Fatalf("empty object has size %d", o.Size)
	}
	if got := get(t, s, "photos", "empty"); len(got) != 0 {
		t.Fatalf("empty object reads %d bytes", len(got))
	}

	if err := s.Delete(ctx, "photos", "cat.png"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get(ctx, "photos", "cat.png")
	wantKind(t, "Get after Delete", err, ufop.KindNotFound)
	wantKind(t, "second Delete", s.Delete(ctx, "photos", "cat.png"), ufop.KindNotFound)
}

func testBigObject(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	bucket(t, s, "big")
	data := random(BigObject+12345, 1)
	var gotHash string
	obj, err := s.Put(ctx, "big", "blob", bytes.NewReader(data), storage.PutOptions{
		Verify: func(h string) error { gotHash = h; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if obj.Size != int64(len(data)) || gotHash != sha(data) {
		t.Fatalf("Put: size %d (want %d), Verify got %s (want %s)", obj.Size, len(data), gotHash, sha(data))
	}
	if got := get(t, s, "big", "blob"); sha(got) != sha(data) {
		t.Fatalf("Get returned %d bytes with another hash", len(got))
	}
	if st, err := s.Stat(ctx, "big", "blob"); err != nil || st.ETag != obj.ETag || st.Size != obj.Size {
		t.Fatalf("Stat = %+v, %v; Put gave %+v", st, err, obj)
	}
}

func testKinds(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	bucket(t, s, "here")
	if err := s.CreateBucket(ctx, "here"); err != nil {
		t.Fatalf("CreateBucket of an existing bucket: %v", err)
	}
	put(t, s, "here", "k", []byte("v"))
	_, err := s.Get(ctx, "nope", "k")
	wantKind(t, "Get in missing bucket", err, ufop.KindNotFound)
	if !strings.Contains(err.Error(), "bucket") {
		t.Errorf("missing bucket error %q does not say bucket", err)
	}
	_, err = s.Get(ctx, "here", "nope")
	wantKind(t, "Get of missing key", err, ufop.KindNotFound)
	if !strings.Contains(err.Error(), "key") {
		t.Errorf("missing key error %q does not say key", err)
	}
	_, err = s.Stat(ctx, "nope", "k")
	wantKind(t, "Stat in missing bucket", err, ufop.KindNotFound)
	_, err = s.Stat(ctx, "here", "nope")
	wantKind(t, "Stat of missing key", err, ufop.KindNotFound)
	wantKind(t, "Delete in missing bucket", s.Delete(ctx, "nope", "k"), ufop.KindNotFound)
	_, err = s.Put(ctx, "nope", "k", strings.NewReader("x"), storage.PutOptions{})
	wantKind(t, "Put in missing bucket", err, ufop.KindNotFound)
	_, _, err = s.List(ctx, "nope", "", "", 0)
	wantKind(t, "List of missing bucket", err, ufop.KindNotFound)
	wantKind(t, "DeleteBucket of missing bucket", s.DeleteBucket(ctx, "nope"), ufop.KindNotFound)
	wantKind(t, "DeleteBucket of non-empty bucket", s.DeleteBucket(ctx, "here"), ufop.KindConflict)
	_, err = s.Get(ctx, "here", "")
	wantKind(t, "Get of empty key", err, ufop.KindInvalid)
	_, err = s.Put(ctx, "here", "a/../b", strings.NewReader("x"), storage.PutOptions{})
	wantKind(t, "Put of key with ..", err, ufop.KindInvalid)
	_, err = s.Put(ctx, "here", strings.Repeat("k", storage.MaxKeyBytes+1), strings.NewReader("x"), storage.PutOptions{})
	wantKind(t, "Put of too long key", err, ufop.KindInvalid)
	wantKind(t, "CreateBucket of bad name", s.CreateBucket(ctx, "Bad_Name"), ufop.KindInvalid)

	if err := s.Delete(ctx, "here", "k"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBucket(ctx, "here"); err != nil {
		t.Fatalf("DeleteBucket of emptied bucket: %v", err)
	}
	_, err = s.Put(ctx, "here", "k", strings.NewReader("x"), storage.PutOptions{})
	wantKind(t, "Put in deleted bucket", err, ufop.KindNotFound)
	// An empty bucket exists and lists empty.
	bucket(t, s, "empty")
	objs, next, err := s.List(ctx, "empty", "", "", 0)
	if err != nil || len(objs) != 0 || next != "" {
		t.Fatalf("List of empty bucket = %v, %q, %v", objs, next, err)
	}
}

func listAll(t *testing.T, s storage.Store, b, prefix string, limit int) []string {
	t.Helper()
	var keys []string
	marker := ""
	for i := 0; ; i++ {
		objs, next, err := s.List(ctx, b, prefix, marker, limit)
		if err != nil {
			t.Fatalf("List(%s, %q, %q, %d): %v", b, prefix, marker, limit, err)
		}
		if limit > 0 && len(objs) > limit {
			t.Fatalf("List returned %d objects, limit %d", len(objs), limit)
		}
		for _, o := range objs {
			if o.Bucket != b || o.Size < 0 || o.ETag == "" {
				t.Fatalf("List gave %+v", o)
			}
			keys = append(keys, o.Key)
		}
		if next == "" {
			return keys
		}
		if len(objs) == 0 || next != objs[len(objs)-1].Key {
			t.Fatalf("List marker %q is not the page's last key", next)
		}
		if i > 10000 {
			t.Fatal("List does not end")
		}
		marker = next
	}
}

func testList(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	bucket(t, s, "list")
	bucket(t, s, "other")
	var all []string
	for i := range 23 {
		all = append(all, fmt.Sprintf("img/%03d.jpg", i))
	}
	all = append(all, "a", "a/b", "a b", "a.b", "a-b", "img", "img0", "imh", "z", "Z", "é", "日本")
	for _, k := range all {
		put(t, s, "list", k, []byte(k))
	}
	put(t, s, "other", "img/999.jpg", []byte("elsewhere"))
	sort.Strings(all)
	for _, limit := range []int{1, 7, 0} {
		if got := listAll(t, s, "list", "", limit); strings.Join(got, "\n") != strings.Join(all, "\n") {
			t.Fatalf("List limit %d:\n got %q\nwant %q", limit, got, all)
		}
	}
	var img []string
	for _, k := range all {
		if strings.HasPrefix(k, "img/") {
			img = append(img, k)
		}
	}
	if got := listAll(t, s, "list", "img/", 5); strings.Join(got, ",") != strings.Join(img, ",") {
		t.Fatalf("List prefix img/:\n got %q\nwant %q", got, img)
	}
	objs, next, err := s.List(ctx, "list", "img/", "img/010.jpg", 3)
	if err != nil || len(objs) != 3 || objs[0].Key != "img/011.jpg" || next != "img/013.jpg" {
		t.Fatalf("List after marker = %v, %q, %v", objs, next, err)
	}
	objs, next, err = s.List(ctx, "list", "a", "", 0)
	if err != nil || len(objs) != 5 || next != "" {
		t.Fatalf("List prefix a = %v, %q, %v", objs, next, err)
	}
	objs, _, err = s.List(ctx, "list", "nothing", "", 0)
	if err != nil || len(objs) != 0 {
		t.Fatalf("List of unmatched prefix = %v, %v", objs, err)
	}
	objs, _, err = s.List(ctx, "list", "", "日本", 0)
	if err != nil || len(objs) != 0 {
		t.Fatalf("List after the last key = %v, %v", objs, err)
	}
	objs, _, _ = s.List(ctx, "list", "a/b", "", 0)
	if len(objs) != 1 || objs[0].Size != 3 {
		t.Fatalf("List of a/b = %+v", objs)
	}
}

func testOddKeys(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	bucket(t, s, "odd")
	keys := []string{
		"a", "a/b", "a/b/c", "a b", " lead", "trail ", "ü/日本語.jpg", "emoji 😀", "a//b", "/lead", "trail/",
		".hidden", "%2F", "~tilde", "!bang", "back\\slash", "q?x=1&y#z", "+plus", "tab\tx", ".", "a/./b",
		strings.Repeat("k", storage.MaxKeyBytes),
		strings.Repeat("é", storage.MaxKeyBytes/2),
		strings.Repeat("d/", storage.MaxKeyBytes/2-1) + "x",
	}
	for i, k := range keys {
		put(t, s, "odd", k, []byte(fmt.Sprint(i)))
	}
	for i, k := range keys {
		if got := string(get(t, s, "odd", k)); got != fmt.Sprint(i) {
			t.Fatalf("Get(%.40q) = %q, want %d", k, got, i)
		}
		if st, err := s.Stat(ctx, "odd", k); err != nil || st.Key != k {
			t.Fatalf("Stat(%.40q) = %.40q, %v", k, st.Key, err)
		}
	}
	want := append([]string(nil), keys...)
	sort.Strings(want)
	if got := listAll(t, s, "odd", "", 4); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("List:\n got %q\nwant %q", got, want)
	}
	if err := s.Delete(ctx, "odd", "a"); err != nil {
		t.Fatal(err)
	}
	if got := string(get(t, s, "odd", "a/b")); got != "1" {
		t.Fatalf("a/b after deleting a: %q", got)
	}
}

func testRanges(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	bucket(t, s, "ranges")
	data := random(3<<20+17, 2)
	put(t, s, "ranges", "blob", data)
	rd, err := s.Get(ctx, "ranges", "blob")
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if end, err := rd.Seek(0, io.SeekEnd); err != nil || end != int64(len(data)) {
		t.Fatalf("Seek end = %d, %v", end, err)
	}
	for _, off := range []int64{2 << 20, 100, 0, int64(len(data)) - 10} {
		if _, err := rd.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 10)
		if _, err := io.ReadFull(rd, buf); err != nil || !bytes.Equal(buf, data[off:off+10]) {
			t.Fatalf("read 10 at %d: %v", off, err)
		}
	}
	if _, err := rd.Seek(5, io.SeekCurrent); err != nil {
		t.Fatal(err)
	}
	if n, err := rd.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("read past the end = %d, %v", n, err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := int64(i) * 400_000
			buf := make([]byte, 1000)
			if _, err := rd.ReadAt(buf, off); err != nil || !bytes.Equal(buf, data[off:off+1000]) {
				errs <- fmt.Errorf("ReadAt %d: %v", off, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	if n, err := rd.ReadAt(buf, int64(len(data))-40); n != 40 || err != io.EOF || !bytes.Equal(buf[:40], data[len(data)-40:]) {
		t.Fatalf("ReadAt over the end = %d, %v", n, err)
	}

	// http.ServeContent passes a Range through.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rd, err := s.Get(r.Context(), "ranges", "blob")
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer rd.Close()
		http.ServeContent(w, r, "", rd.Modified, rd)
	}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Range", "bytes=1000000-1000099")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[1000000:1000100]) {
		t.Fatalf("ranged GET: status %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, err = srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || sha(body) != sha(data) {
		t.Fatalf("whole GET: status %d, %d bytes", resp.StatusCode, len(body))
	}
}

func testCopy(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	bucket(t, s, "src")
	bucket(t, s, "dst")
	data := random(300_000, 3)
	put(t, s, "src", "a/orig", data)
	for _, dst := range []ufop.ObjectRef{{Bucket: "dst", Key: "copy"}, {Bucket: "src", Key: "a/orig/copy é"}} {
		obj, err := s.Copy(ctx, ufop.ObjectRef{Bucket: "src", Key: "a/orig"}, dst)
		if err != nil {
			t.Fatalf("Copy to %v: %v", dst, err)
		}
		if obj.Bucket != dst.Bucket || obj.Key != dst.Key || obj.Size != int64(len(data)) || obj.ETag == "" {
			t.Fatalf("Copy returned %+v", obj)
		}
		if got := get(t, s, dst.Bucket, dst.Key); sha(got) != sha(data) {
			t.Fatalf("copy %v differs", dst)
		}
	}
	_, err := s.Copy(ctx, ufop.ObjectRef{Bucket: "src", Key: "nope"}, ufop.ObjectRef{Bucket: "dst", Key: "x"})
	wantKind(t, "Copy of missing key", err, ufop.KindNotFound)
	_, err = s.Copy(ctx, ufop.ObjectRef{Bucket: "src", Key: "a/orig"}, ufop.ObjectRef{Bucket: "nope", Key: "x"})
	wantKind(t, "Copy to missing bucket", err, ufop.KindNotFound)
	// The source is unchanged.
	if got := get(t, s, "src", "a/orig"); sha(got) != sha(data) {
		t.Fatal("Copy changed its source")
	}
}

// testOverwriteAtomic has readers read while a writer replaces the
// object: each read is a whole old or a whole new object (or, for
// backends that read by range, a KindConflict error), never a mix.
func testOverwriteAtomic(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	bucket(t, s, "atomic")
	const size = 1 << 20
	versions := [][]byte{bytes.Repeat([]byte{'a'}, size), bytes.Repeat([]byte{'b'}, size)}
	put(t, s, "atomic", "k", versions[0])
	done := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	reads := 0
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				rd, err := s.Get(ctx, "atomic", "k")
				if err != nil {
					mu.Lock()
					failures = append(failures, "Get: "+err.Error())
					mu.Unlock()
					return
				}
				// Read in small steps so that writes land mid-read.
				var got []byte
				buf := make([]byte, 64<<10)
				for {
					n, err := rd.Read(buf)
					got = append(got, buf[:n]...)
					if err == io.EOF {
						break
					}
					if err != nil {
						got = nil
						if ufop.KindOf(err) != ufop.KindConflict {
							mu.Lock()
							failures = append(failures, "Read: "+err.Error())
							mu.Unlock()
						}
						break
					}
					time.Sleep(time.Millisecond)
				}
				rd.Close()
				if got != nil && !bytes.Equal(got, versions[0]) && !bytes.Equal(got, versions[1]) {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("read a mix: %d bytes, %d a's", len(got), bytes.Count(got, []byte{'a'})))
					mu.Unlock()
				}
				mu.Lock()
				reads++
				mu.Unlock()
			}
		}()
	}
	for i := range 20 {
		put(t, s, "atomic", "k", versions[(i+1)%2])
	}
	close(done)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d bad reads of %d, first: %s", len(failures), reads, failures[0])
	}
	if reads == 0 {
		t.Fatal("no read finished")
	}
}

// stallingBody gives n bytes, then calls cancel and blocks until ctx is
// done, like a client that goes away mid-upload.
type stallingBody struct {
	ctx    context.Context
	cancel func()
	n      int
}

func (b *stallingBody) Read(p []byte) (int, error) {
	if b.n > 0 {
		k := min(len(p), b.n)
		for i := range p[:k] {
			p[i] = 'x'
		}
		b.n -= k
		return k, nil
	}
	b.cancel()
	<-b.ctx.Done()
	return 0, b.ctx.Err()
}

func testCancelledUpload(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	bucket(t, s, "cancel")
	for _, n := range []int{1000, BigObject} {
		key := fmt.Sprintf("k%d", n)
		cctx, cancel := context.WithCancel(ctx)
		_, err := s.Put(cctx, "cancel", key, &stallingBody{ctx: cctx, cancel: cancel, n: n}, storage.PutOptions{})
		cancel()
		if err == nil {
			t.Fatalf("cancelled Put of %d bytes succeeded", n)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled Put of %d bytes: error %v does not wrap context.Canceled", n, err)
		}
		wantMissing(t, s, "cancel", key)
	}
	// A cancelled overwrite keeps the old object.
	put(t, s, "cancel", "keep", []byte("old"))
	cctx, cancel := context.WithCancel(ctx)
	if _, err := s.Put(cctx, "cancel", "keep", &stallingBody{ctx: cctx, cancel: cancel, n: BigObject}, storage.PutOptions{}); err == nil {
		t.Fatal("cancelled overwrite succeeded")
	}
	cancel()
	if got := string(get(t, s, "cancel", "keep")); got != "old" {
		t.Fatalf("after a cancelled overwrite the object reads %.20q", got)
	}
}

// failingBody fails after n bytes.
type failingBody struct{ n int }

var errBody = errors.New("client went away")

func (b *failingBody) Read(p []byte) (int, error) {
	if b.n == 0 {
		return 0, errBody
	}
	k := min(len(p), b.n)
	b.n -= k
	return k, nil
}

func testFailingBody(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	bucket(t, s, "fail")
	for _, n := range []int{10, BigObject} {
		key := fmt.Sprintf("k%d", n)
		_, err := s.Put(ctx, "fail", key, &failingBody{n: n}, storage.PutOptions{})
		if !errors.Is(err, errBody) {
			t.Fatalf("Put with a body failing after %d bytes: %v, want the body's error", n, err)
		}
		wantMissing(t, s, "fail", key)
	}
}

func testTooLarge(t *testing.T, newStore NewStore) {
	const max = 6 << 20
	s := newStore(t, max)
	bucket(t, s, "big")
	for _, n := range []int{max + 1, max + 1<<20, 3 * max} {
		key := fmt.Sprintf("k%d", n)
		_, err := s.Put(ctx, "big", key, bytes.NewReader(make([]byte, n)), storage.PutOptions{})
		wantKind(t, fmt.Sprintf("Put of %d bytes", n), err, ufop.KindTooLarge)
		wantMissing(t, s, "big", key)
	}
	if o := put(t, s, "big", "fits", make([]byte, max)); o.Size != max {
		t.Fatalf("object of exactly the limit: %+v", o)
	}
}

func testVerify(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	bucket(t, s, "verify")
	for _, n := range []int{100, BigObject + 1} {
		data := random(n, int64(n))
		var got string
		_, err := s.Put(ctx, "verify", "ok", bytes.NewReader(data), storage.PutOptions{Verify: func(h string) error { got = h; return nil }})
		if err != nil || got != sha(data) {
			t.Fatalf("Put %d bytes: Verify got %s, want %s (%v)", n, got, sha(data), err)
		}
		bad := errors.New("hash mismatch")
		key := fmt.Sprintf("bad%d", n)
		_, err = s.Put(ctx, "verify", key, bytes.NewReader(data), storage.PutOptions{Verify: func(string) error { return bad }})
		if !errors.Is(err, bad) {
			t.Fatalf("Put with failing Verify: %v", err)
		}
		wantMissing(t, s, "verify", key)
	}
}

func testClosed(t *testing.T, newStore NewStore) {
	s := newStore(t, 0)
	bucket(t, s, "closed")
	put(t, s, "closed", "k", []byte("v"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := s.Get(ctx, "closed", "k")
	wantKind(t, "Get after Close", err, ufop.KindUnavailable)
	_, err = s.Put(ctx, "closed", "k", strings.NewReader("x"), storage.PutOptions{})
	wantKind(t, "Put after Close", err, ufop.KindUnavailable)
	_, _, err = s.List(ctx, "closed", "", "", 0)
	wantKind(t, "List after Close", err, ufop.KindUnavailable)
}
