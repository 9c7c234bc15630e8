package gateway_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/gateway"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/ufopctl"
)

// download GETs path on gateway i, signed by user when user is not "".
func (f *fleet) download(i int, user, path string, hdr ...string) (*http.Response, []byte) {
	f.t.Helper()
	u := f.urls[i] + path
	if user != "" {
		k := f.keys[user]
		s, err := auth.SignURL(u, k[0], k[1], time.Now().Add(time.Hour))
		if err != nil {
			f.t.Fatal(err)
		}
		u = s
	}
	req := mustGet(f.t, u)
	for j := 0; j+1 < len(hdr); j += 2 {
		req.Header.Set(hdr[j], hdr[j+1])
	}
	return f.do(req)
}

// infoWidth reads the width of an imageInfo answer, or -1.
func infoWidth(body []byte) int {
	var info struct {
		Width int `json:"width"`
	}
	if json.Unmarshal(body, &info) != nil || info.Width == 0 {
		return -1
	}
	return info.Width
}

// imageWidth decodes the width of an image answer, or -1.
func imageWidth(body []byte) int {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(body))
	if err != nil {
		return -1
	}
	return cfg.Width
}

// unlimit lifts user's rate limits on every gateway: these tests count
// answers, not rates.
func (f *fleet) unlimit(user string) {
	f.t.Helper()
	f.mustJSON(0, "admin", http.MethodPut, "/v1/limits/"+user, `{"rps":10000,"burst":10000,"concurrency":1000}`, nil)
	for _, gw := range f.gws {
		testenv.Eventually(f.t, time.Second, func() bool { l, ok := gw.Catalog().Limit(user, ""); return ok && l.RPS == 10000 }, "%s unlimited", user)
	}
}

func (f *fleet) setStyle(i int, user, bucket, name, fops string) {
	f.t.Helper()
	body, _ := json.Marshal(map[string]string{"fops": fops})
	f.mustJSON(i, user, http.MethodPut, "/v1/buckets/"+bucket+"/styles/"+name, string(body), nil)
}

// TestStyleAdmin: the admin API and ufopctl verbs of styles and of the
// bucket settings they need, with their permissions and bad input.
func TestStyleAdmin(t *testing.T) {
	f := newFleet(t, 1, nil)
	for _, tc := range []struct {
		name, user, method, path, body string
		want                           int
		says                           string // in the error message
	}{
		{"owner sets", "alice", "PUT", "/v1/buckets/alice-pics/styles/thumb", `{"fops":"imageView2/2/w/200"}`, 200, ""},
		{"owner replaces", "alice", "PUT", "/v1/buckets/alice-pics/styles/thumb", `{"fops":"imageView2/2/w/100"}`, 200, ""},
		{"admin sets", "admin", "PUT", "/v1/buckets/alice-pics/styles/info", `{"fops":"imageInfo"}`, 200, ""},
		{"other user sets", "bob", "PUT", "/v1/buckets/alice-pics/styles/x", `{"fops":"imageInfo"}`, 403, "another user"},
		{"other user lists", "bob", "GET", "/v1/buckets/alice-pics/styles", "", 403, "another user"},
		{"other user removes", "bob", "DELETE", "/v1/buckets/alice-pics/styles/thumb", "", 403, "another user"},
		{"other user changes the bucket", "bob", "PATCH", "/v1/buckets/alice-pics", `{"protectOriginal":true}`, 403, "another user"},
		{"malformed fop", "alice", "PUT", "/v1/buckets/alice-pics/styles/bad", `{"fops":"imageView2/9/w/200"}`, 400, "imageView2"},
		{"unknown fop", "alice", "PUT", "/v1/buckets/alice-pics/styles/bad", `{"fops":"imageVeiw2/2/w/200"}`, 400, "imageVeiw2"},
		{"saveas", "alice", "PUT", "/v1/buckets/alice-pics/styles/bad", `{"fops":"imageInfo|saveas/YWxpY2UtcGljczp4"}`, 400, "saveas"},
		{"a style in a style", "alice", "PUT", "/v1/buckets/alice-pics/styles/bad", `{"fops":"style/thumb"}`, 400, "another style"},
		{"no fops", "alice", "PUT", "/v1/buckets/alice-pics/styles/bad", `{}`, 400, "give its fops"},
		{"too long", "alice", "PUT", "/v1/buckets/alice-pics/styles/bad", `{"fops":"imageView2/2/w/1` + strings.Repeat("0", 9000) + `"}`, 413, "limit"},
		{"bad name", "alice", "PUT", "/v1/buckets/alice-pics/styles/a!b", `{"fops":"imageInfo"}`, 400, "style name"},
		{"long name", "alice", "PUT", "/v1/buckets/alice-pics/styles/" + strings.Repeat("n", 65), `{"fops":"imageInfo"}`, 400, "style name"},
		{"unknown field", "alice", "PUT", "/v1/buckets/alice-pics/styles/x", `{"fop":"imageInfo"}`, 400, "unknown field"},
		{"no such bucket", "alice", "PUT", "/v1/buckets/nosuch/styles/x", `{"fops":"imageInfo"}`, 404, "nosuch"},
		{"remove a missing style", "alice", "DELETE", "/v1/buckets/alice-pics/styles/nosuch", "", 404, "nosuch"},
		{"bad separator", "alice", "PATCH", "/v1/buckets/alice-pics", `{"styleSep":"?"}`, 400, "separator"},
		{"empty change", "alice", "PATCH", "/v1/buckets/alice-pics", `{}`, 400, "styleSep"},
		{"separators", "alice", "PATCH", "/v1/buckets/alice-pics", `{"styleSep":"-!"}`, 200, ""},
		{"a name holding a separator", "alice", "PUT", "/v1/buckets/alice-pics/styles/a-b", `{"fops":"imageInfo"}`, 400, "separator"},
		{"no UFOP may be named style", "alice", "PUT", "/v1/ufops/style", `{"mode":0}`, 400, "style"},
		{"separators no name holds", "alice", "PATCH", "/v1/buckets/alice-pics", `{"styleSep":"!~"}`, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := f.signed(0, tc.user, tc.method, tc.path, tc.body)
			if resp.StatusCode != tc.want {
				t.Fatalf("%s %s as %s: %s %s, want %d", tc.method, tc.path, tc.user, resp.Status, b, tc.want)
			}
			if tc.says != "" && !strings.Contains(string(b), tc.says) {
				t.Fatalf("error %s does not say %q", b, tc.says)
			}
		})
	}
	f.setStyle(0, "alice", "alice-pics", "w_1.v2", "imageInfo")
	if resp, b := f.signed(0, "alice", "PATCH", "/v1/buckets/alice-pics", `{"styleSep":"-."}`); resp.StatusCode != 409 || !strings.Contains(string(b), "w_1.v2") {
		t.Fatalf("a separator a style name holds: %s %s, want 409 naming the style", resp.Status, b)
	}

	t.Run("ufopctl", func(t *testing.T) {
		alice := ufopctl.Config{Endpoint: f.urls[0], AK: f.keys["alice"][0], SK: f.keys["alice"][1]}
		bob := ufopctl.Config{Endpoint: f.urls[0], AK: f.keys["bob"][0], SK: f.keys["bob"][1]}
		out := f.mustCtl(alice, "style", "set", "alice-pics", "small", "imageView2/2/w/20")
		if !strings.Contains(out, "set style small of alice-pics: imageView2/2/w/20") {
			t.Fatalf("style set: %q", out)
		}
		var ls struct {
			Styles []ufopctl.Style `json:"styles"`
		}
		if err := json.Unmarshal([]byte(f.mustCtl(alice, "style", "ls", "alice-pics", "-o", "json")), &ls); err != nil {
			t.Fatal(err)
		}
		names := []string{}
		for _, s := range ls.Styles {
			names = append(names, s.Name+"="+s.Fops)
			if s.Bucket != "alice-pics" || s.Updated.IsZero() {
				t.Errorf("style %+v", s)
			}
		}
		if got := strings.Join(names, " "); got != "info=imageInfo small=imageView2/2/w/20 thumb=imageView2/2/w/100 w_1.v2=imageInfo" {
			t.Fatalf("style ls -o json: %s", got)
		}
		if out := f.mustCtl(alice, "style", "ls", "alice-pics"); !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "small   imageView2/2/w/20") {
			t.Fatalf("style ls:\n%s", out)
		}
		if code, _, errOut := f.ctl(alice, "style", "set", "alice-pics", "bad", "imageView2/9"); code != 1 || !strings.Contains(errOut, "400") || !strings.Contains(errOut, "imageView2") {
			t.Fatalf("bad fops: exit %d %q", code, errOut)
		}
		if code, _, errOut := f.ctl(bob, "style", "ls", "alice-pics"); code != 1 || !strings.Contains(errOut, "403") {
			t.Fatalf("bob lists alice's styles: exit %d %q", code, errOut)
		}
		if code, _, errOut := f.ctl(alice, "style", "set", "alice-pics", "x"); code != 2 || !strings.Contains(errOut, "usage: ufopctl style set <bucket> <name> <fops>") {
			t.Fatalf("missing fops: exit %d %q", code, errOut)
		}
		if out := f.mustCtl(alice, "style", "rm", "alice-pics", "small"); out != "removed style small of alice-pics\n" {
			t.Fatalf("style rm: %q", out)
		}
		if code, _, errOut := f.ctl(alice, "style", "rm", "alice-pics", "small"); code != 1 || !strings.Contains(errOut, "404") {
			t.Fatalf("style rm again: exit %d %q", code, errOut)
		}

		var b ufop.Bucket
		if err := json.Unmarshal([]byte(f.mustCtl(alice, "bucket", "set", "alice-pics", "--style-sep", "-!", "--protect-original", "-o", "json")), &b); err != nil {
			t.Fatal(err)
		}
		if b.StyleSep != "-!" || !b.ProtectOriginal {
			t.Fatalf("bucket set: %+v", b)
		}
		if out := f.mustCtl(alice, "bucket", "set", "alice-pics", "--protect-original=false"); out != "bucket alice-pics: style separators \"-!\", originals protected: no\n" {
			t.Fatalf("bucket set --protect-original=false: %q", out)
		}
		if out := f.mustCtl(alice, "bucket", "set", "alice-pics", "--style-sep", ""); out != "bucket alice-pics: style separators none, originals protected: no\n" {
			t.Fatalf("bucket set --style-sep '': %q", out)
		}
		if code, _, errOut := f.ctl(alice, "bucket", "set", "alice-pics"); code != 2 || !strings.Contains(errOut, "--style-sep or --protect-original") {
			t.Fatalf("bucket set without flags: exit %d %q", code, errOut)
		}
		if code, _, errOut := f.ctl(bob, "bucket", "set", "alice-pics", "--protect-original"); code != 1 || !strings.Contains(errOut, "403") {
			t.Fatalf("bob changes alice's bucket: exit %d %q", code, errOut)
		}
	})
}

// TestStyledDownloads: KEY<c>NAME and ?style/NAME, alone and with more
// steps; keys holding a separator; the style winning over a key spelled
// alike, and the escaped separator that reaches that key.
func TestStyledDownloads(t *testing.T) {
	f := newFleet(t, 1, nil)
	f.unlimit("alice")
	f.unlimit("bob")
	img := testImage(t, "grayscale.jpg") // 100x100
	other := []byte("not an image: the object stored as x-thumb")
	for key, body := range map[string][]byte{"a-b.jpg": img, "x": img, "x-thumb": other, "dir/p-q!r.jpg": img} {
		f.mustJSON(0, "alice", http.MethodPut, "/v1/objects/alice-pics/"+key, string(body), nil)
	}
	f.mustJSON(0, "alice", http.MethodPatch, "/v1/buckets/alice-pics", `{"styleSep":"-!"}`, nil)
	f.setStyle(0, "alice", "alice-pics", "thumb", "imageView2/2/w/30")
	f.setStyle(0, "alice", "alice-pics", "small", "imageView2/2/w/20|imageInfo")
	f.setStyle(0, "alice", "alice-pics", "r.jpg", "imageView2/2/w/10")
	f.setStyle(0, "bob", "bob-pics", "bobs", "imageInfo")

	raw := func(want []byte) func([]byte) bool { return func(b []byte) bool { return bytes.Equal(b, want) } }
	info := func(w int) func([]byte) bool { return func(b []byte) bool { return infoWidth(b) == w } }
	width := func(w int) func([]byte) bool { return func(b []byte) bool { return imageWidth(b) == w } }
	for _, tc := range []struct {
		name, path string
		status     int
		check      func([]byte) bool
	}{
		{"original", "/alice-pics/g.jpg", 200, raw(img)},
		{"dash", "/alice-pics/g.jpg-thumb", 200, width(30)},
		{"bang", "/alice-pics/g.jpg!thumb", 200, width(30)},
		{"query", "/alice-pics/g.jpg?style/thumb", 200, width(30)},
		{"style then more steps", "/alice-pics/g.jpg?style/thumb|imageInfo", 200, info(30)},
		{"steps then a style", "/alice-pics/g.jpg?imageView2/2/w/50|style/small", 200, info(20)},
		{"path style then the query's steps", "/alice-pics/g.jpg-thumb?imageInfo", 200, info(30)},
		{"path style and a query style", "/alice-pics/g.jpg-thumb?style/small", 200, info(20)},
		{"encoded bar", "/alice-pics/g.jpg?style/thumb%7CimageInfo", 200, info(30)},
		{"a key holding a separator, no such style", "/alice-pics/a-b.jpg", 200, raw(img)},
		{"that key, styled", "/alice-pics/a-b.jpg!thumb", 200, width(30)},
		{"split at the last separator", "/alice-pics/dir/p-q!r.jpg-thumb", 200, width(30)},
		{"the last separator names a style", "/alice-pics/dir/p-q!r.jpg", 404, nil}, // style r.jpg of key dir/p-q: none
		{"the style wins over the key x-thumb", "/alice-pics/x-thumb", 200, width(30)},
		{"an escaped separator reaches the key", "/alice-pics/x%2Dthumb", 200, raw(other)},
		{"not a style: a key", "/alice-pics/g.jpg-nosuch", 404, nil},
		{"no such style", "/alice-pics/g.jpg?style/nosuch", 404, nil},
		{"no style name", "/alice-pics/g.jpg?style/", 400, nil},
		{"another bucket's style", "/alice-pics/g.jpg?style/bobs", 404, nil},
		{"no separators on bob's bucket", "/bob-pics/g.jpg-bobs", 404, nil},
		{"but the query form", "/bob-pics/g.jpg?style/bobs", 200, info(100)},
		{"a style over the pipeline limit", "/alice-pics/g.jpg?style/thumb|" + strings.Repeat("imageInfo|", 9) + "imageInfo", 400, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.download(0, "", tc.path)
			if resp.StatusCode != tc.status {
				t.Fatalf("%s: %s %.200s, want %d", tc.path, resp.Status, body, tc.status)
			}
			if tc.check != nil && !tc.check(body) {
				t.Fatalf("%s: unexpected answer %.100q", tc.path, body)
			}
			if tc.status >= 400 && !strings.Contains(string(body), `"reqid"`) {
				t.Fatalf("%s: not a SPEC error: %s", tc.path, body)
			}
		})
	}

	// A style's result is named by its definition: the same ETag as the
	// fops written out, so caches hold one entry for both.
	r1, _ := f.download(0, "", "/alice-pics/g.jpg-thumb")
	r2, _ := f.download(0, "", "/alice-pics/g.jpg?imageView2/2/w/30")
	if e := r1.Header.Get("ETag"); e == "" || e != r2.Header.Get("ETag") {
		t.Fatalf("ETag of the style %q, of its fops %q", e, r2.Header.Get("ETag"))
	}
	if resp, body := f.download(0, "", "/alice-pics/g.jpg-thumb", "If-None-Match", r1.Header.Get("ETag")); resp.StatusCode != 304 {
		t.Fatalf("If-None-Match: %s %.100s", resp.Status, body)
	}
	resp, _ := f.download(0, "", "/alice-pics/g.jpg-thumb")
	if resp.Header.Get("Cache-Control") != "public, max-age=3600" {
		t.Fatalf("Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
}

// TestProtectOriginal: on a bucket that protects its originals, a style
// alone is public; the object as stored and any other pipeline need a URL
// signed by the owner or an admin; and no public pipeline, of this bucket
// or another, shows a protected original as a watermark, except the
// owner's own styles.
func TestProtectOriginal(t *testing.T) {
	f := newFleet(t, 1, nil)
	f.unlimit("alice")
	f.unlimit("bob")
	img := testImage(t, "grayscale.jpg")
	f.mustJSON(0, "alice", http.MethodPut, "/v1/objects/alice-pics/mark.png", string(markPNG(t)), nil)
	f.mustJSON(0, "alice", http.MethodPatch, "/v1/buckets/alice-pics", `{"styleSep":"-","protectOriginal":true}`, nil)
	f.setStyle(0, "alice", "alice-pics", "thumb", "imageView2/2/w/30")
	mark := "watermark/1/image/" + base64.RawURLEncoding.EncodeToString([]byte("alice-pics:mark.png")) + "/ws/1"
	f.setStyle(0, "alice", "alice-pics", "wm", mark)
	f.setStyle(0, "bob", "bob-pics", "wm", mark)

	for _, tc := range []struct {
		name, user, path string
		status           int
		cache            string // Cache-Control of a 200
	}{
		{"original, anonymous", "", "/alice-pics/g.jpg", 401, ""},
		{"original, owner", "alice", "/alice-pics/g.jpg", 200, "private, no-cache"},
		{"original, admin", "admin", "/alice-pics/g.jpg", 200, "private, no-cache"},
		{"original, other user", "bob", "/alice-pics/g.jpg", 403, ""},
		{"fops, anonymous", "", "/alice-pics/g.jpg?imageInfo", 401, ""},
		{"fops, owner", "alice", "/alice-pics/g.jpg?imageInfo", 200, "private, no-cache"},
		{"fops, other user", "bob", "/alice-pics/g.jpg?imageInfo", 403, ""},
		{"style, anonymous", "", "/alice-pics/g.jpg-thumb", 200, "public, max-age=3600"},
		{"style by query, anonymous", "", "/alice-pics/g.jpg?style/thumb", 200, "public, max-age=3600"},
		{"style signed by another user", "bob", "/alice-pics/g.jpg-thumb", 200, "public, max-age=3600"},
		{"style plus fops, anonymous", "", "/alice-pics/g.jpg-thumb?imageInfo", 401, ""},
		{"style plus fops by query, anonymous", "", "/alice-pics/g.jpg?style/thumb|imageInfo", 401, ""},
		{"style plus fops, owner", "alice", "/alice-pics/g.jpg?style/thumb|imageInfo", 200, "private, no-cache"},
		{"two styles, anonymous", "", "/alice-pics/g.jpg-thumb?style/thumb", 401, ""},
		{"not a style: the original", "", "/alice-pics/g.jpg-nosuch", 401, ""},
		{"the owner's style marks with its own original", "", "/alice-pics/g.jpg-wm", 200, "public, max-age=3600"},
		{"another user's style cannot", "", "/bob-pics/g.jpg?style/wm", 403, ""},
		{"nor a public pipeline elsewhere", "", "/bob-pics/g.jpg?" + mark, 403, ""},
		{"unless signed by the owner", "alice", "/bob-pics/g.jpg?" + mark, 200, "public, max-age=3600"},
		{"nor signed by another user", "bob", "/bob-pics/g.jpg?" + mark, 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.download(0, tc.user, tc.path)
			if resp.StatusCode != tc.status {
				t.Fatalf("%s as %q: %s %.200s, want %d", tc.path, tc.user, resp.Status, body, tc.status)
			}
			if cc := resp.Header.Get("Cache-Control"); tc.status == 200 && cc != tc.cache {
				t.Errorf("Cache-Control %q, want %q", cc, tc.cache)
			}
			if tc.status == 200 && tc.path == "/alice-pics/g.jpg" && !bytes.Equal(body, img) {
				t.Error("the original differs")
			}
			if tc.status >= 400 && !strings.Contains(string(body), `"reqid"`) {
				t.Errorf("not a SPEC error: %s", body)
			}
		})
	}

	// Turned off, the original is public again.
	f.mustJSON(0, "alice", http.MethodPatch, "/v1/buckets/alice-pics", `{"protectOriginal":false}`, nil)
	if resp, body := f.download(0, "", "/alice-pics/g.jpg"); resp.StatusCode != 200 || !bytes.Equal(body, img) {
		t.Fatalf("unprotected original: %s", resp.Status)
	}
}

// TestStyleChangeEverywhere (SPEC §12): a style changed through one gateway
// is in force on the other within a second, and once a gateway served the
// new definition it never serves the old one again, although both
// gateways and the agent cached the old result.
func TestStyleChangeEverywhere(t *testing.T) {
	f := newFleet(t, 2, nil)
	f.unlimit("alice")
	f.mustJSON(0, "alice", http.MethodPatch, "/v1/buckets/alice-pics", `{"styleSep":"-"}`, nil)
	paths := []string{"/alice-pics/g.jpg-s", "/alice-pics/g.jpg?style/s"}
	widthOn := func(i int, path string) int {
		resp, body := f.download(i, "", path)
		if resp.StatusCode != 200 {
			return -resp.StatusCode
		}
		return infoWidth(body)
	}
	var oldETag string
	for round, w := range []int{40, 20, 60, 20} {
		start := time.Now()
		f.setStyle(0, "alice", "alice-pics", "s", fmt.Sprintf("imageView2/2/w/%d|imageInfo", w))
		// The gateway that took the change serves it at once.
		for _, p := range paths {
			if got := widthOn(0, p); got != w {
				t.Fatalf("round %d: gateway 0 right after the change: width %d, want %d", round, got, w)
			}
		}
		testenv.Eventually(t, time.Second, func() bool { return widthOn(1, paths[0]) == w }, "round %d: gateway 1 serves width %d", round, w)
		t.Logf("round %d: gateway 1 served the new definition %v after the change", round, time.Since(start).Round(time.Millisecond))
		for range 10 {
			for i := range 2 {
				for _, p := range paths {
					if got := widthOn(i, p); got != w {
						t.Fatalf("round %d: gateway %d served width %d after width %d: an old result", round, i, got, w)
					}
				}
			}
		}
		// A client holding the old result's ETag gets the new one.
		if oldETag != "" {
			resp, body := f.download(1, "", paths[0], "If-None-Match", oldETag)
			if resp.StatusCode != 200 || infoWidth(body) != w {
				t.Fatalf("round %d: If-None-Match with the old ETag: %s %s", round, resp.Status, body)
			}
		}
		resp, _ := f.download(1, "", paths[0])
		oldETag = resp.Header.Get("ETag")
	}

	// A removed style is gone everywhere: the path is a plain key again.
	f.mustJSON(0, "alice", http.MethodDelete, "/v1/buckets/alice-pics/styles/s", "", nil)
	testenv.Eventually(t, time.Second, func() bool { return widthOn(1, paths[0]) == -404 && widthOn(1, paths[1]) == -404 },
		"gateway 1 forgets the removed style")
}

// TestStyledDomain: a bucket addressed by host name splits styles the
// same way.
func TestStyledDomain(t *testing.T) {
	img := testImage(t, "grayscale.jpg")
	c := newCluster(t, 1, func(cfg *gateway.Config, _ *gateway.Deps) { cfg.Domain = "img.test" })
	c.mustAdmin(http.MethodPut, "/v1/buckets/pics", nil)
	c.mustAdmin(http.MethodPut, "/v1/objects/pics/a-b.jpg", img)
	c.mustAdmin(http.MethodPatch, "/v1/buckets/pics", []byte(`{"styleSep":"-"}`))
	c.mustAdmin(http.MethodPut, "/v1/buckets/pics/styles/small", []byte(`{"fops":"imageView2/2/w/20|imageInfo"}`))
	for _, tc := range []struct {
		path  string
		check func([]byte) bool
	}{
		{"/a-b.jpg-small", func(b []byte) bool { return infoWidth(b) == 20 }},
		{"/a-b.jpg?style/small", func(b []byte) bool { return infoWidth(b) == 20 }},
		{"/a-b.jpg", func(b []byte) bool { return bytes.Equal(b, img) }},
	} {
		req := mustGet(t, c.url+tc.path)
		req.Host = "pics.img.test"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		body.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !tc.check(body.Bytes()) {
			t.Fatalf("pics.img.test%s: %s %.100q", tc.path, resp.Status, body.Bytes())
		}
	}
}
