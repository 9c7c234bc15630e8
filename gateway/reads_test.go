package gateway_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/gateway"
	"github.com/ufop/ufop/internal/testenv"
)

func markPNG(t *testing.T) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	for i := range img.Pix {
		img.Pix[i] = 255 // opaque white
	}
	img.Set(3, 3, color.NRGBA{R: 255, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestWatermarkReads: every object a request reads must be readable by the
// requester. A public image watermarked with a private one of the same
// owner is refused to anyone but a request signed by the owner (or an
// admin), by bucket:key and by URL, cached result or not.
func TestWatermarkReads(t *testing.T) {
	portrait := testImage(t, "portrait.jpg")
	mark := markPNG(t)
	c := newCluster(t, 1)
	var alice, bob gateway.NewUser
	json.Unmarshal(c.mustAdmin(http.MethodPost, "/v1/users", []byte(`{"name":"alice"}`)), &alice)
	json.Unmarshal(c.mustAdmin(http.MethodPost, "/v1/users", []byte(`{"name":"bob"}`)), &bob)
	for _, r := range []struct {
		path string
		body []byte
	}{
		{"/v1/buckets/alicepub", nil},
		{"/v1/buckets/alicepriv", []byte(`{"private":true}`)},
		{"/v1/objects/alicepub/p.jpg", portrait},
		{"/v1/objects/alicepub/mark.png", mark},
		{"/v1/objects/alicepriv/mark.png", mark},
	} {
		resp := c.admin(http.MethodPut, r.path, r.body, alice.AK, alice.SK)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("PUT %s as alice: %s", r.path, resp.Status)
		}
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	wm := func(ref string) string { return "/alicepub/p.jpg?watermark/1/image/" + b64(ref) + "/ws/1" }
	sign := func(path, ak, sk string) string {
		s, err := auth.SignURL(c.url+path, ak, sk, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimPrefix(s, c.url)
	}

	// The same mark from the public bucket: what a permitted request gets.
	resp, want := c.get(wm("alicepub:mark.png"))
	if resp.StatusCode != 200 {
		t.Fatalf("public mark: %s %s", resp.Status, want)
	}
	if _, plain := c.get("/alicepub/p.jpg?imageView2/0/w/800"); bytes.Equal(plain, want) {
		t.Fatal("the watermark changed nothing: the test cannot tell")
	}

	privKey, privURL := wm("alicepriv:mark.png"), wm(c.url+"/alicepriv/mark.png")
	for _, tc := range []struct {
		name   string
		path   string
		status int
	}{
		// Signed first: later anonymous requests must not get the cached result.
		{"owner, bucket:key", sign(privKey, alice.AK, alice.SK), 200},
		{"owner, URL", sign(privURL, alice.AK, alice.SK), 200},
		{"admin, bucket:key", sign(privKey, c.ak, c.sk), 200},
		{"anonymous, bucket:key", privKey, 403},
		{"anonymous, URL", privURL, 403},
		{"other user, bucket:key", sign(privKey, bob.AK, bob.SK), 403},
		{"other user, URL", sign(privURL, bob.AK, bob.SK), 403},
		// The address policy: only URLs of this platform, plain.
		{"public URL", wm(c.url + "/alicepub/mark.png"), 200},
		{"foreign host", wm("http://example.com/alicepub/mark.png"), 400},
		{"URL with a query", wm(c.url + "/alicepub/mark.png?imageInfo"), 400},
		{"URL with user info", wm("http://u:p@" + c.url[len("http://"):] + "/alicepub/mark.png"), 400},
		{"not http", wm("ftp://" + c.url[len("http://"):] + "/alicepub/mark.png"), 400},
		{"no key", wm(c.url + "/alicepub"), 400},
		{"no bucket", wm("nobucket:mark.png"), 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := c.get(tc.path)
			if resp.StatusCode != tc.status {
				t.Fatalf("%s: %s %.200s, want %d", tc.path, resp.Status, body, tc.status)
			}
			if tc.status == 200 && !bytes.Equal(body, want) {
				t.Errorf("result differs from the same mark read from the public bucket")
			}
			if tc.status != 200 && (resp.Header.Get("Cache-Control") != "no-store" || !bytes.Contains(body, []byte(`"reqid"`))) {
				t.Errorf("not a SPEC error: %s %s", resp.Header.Get("Cache-Control"), body)
			}
		})
	}

	t.Run("internal endpoint needs a grant", func(t *testing.T) {
		cli := testenv.EtcdClientOf(t, c.etcd)
		tok, err := catalog.ClusterToken(c.ctx, cli, gateway.DefaultConfig().Catalog.Prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, grant := range []string{"", "e30.AAAA", "garbage"} {
			req, _ := http.NewRequest(http.MethodGet, c.url+"/_ufop/objects/alicepriv/mark.png", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			if grant != "" {
				req.Header.Set("X-Ufop-Grant", grant)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 403 {
				t.Errorf("grant %q: %s, want 403", grant, resp.Status)
			}
		}
	})
}
