package gateway_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/gateway"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/protocol"
)

// consoleSession is a browser's console session: its cookie and CSRF
// token, as the page's script holds them.
type consoleSession struct {
	t            *testing.T
	base         string
	cookie, csrf string
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([0-9a-f]{64})">`)

// signIn mints a sign-in link with the key pair (ufopctl console) and
// follows it as a browser would.
func (c *cluster) signIn(ak, sk string) consoleSession {
	c.t.Helper()
	resp := c.admin(http.MethodPost, protocol.ConsoleSignInAPI, nil, ak, sk)
	var si protocol.ConsoleSignIn
	if err := json.NewDecoder(resp.Body).Decode(&si); err != nil || resp.StatusCode != 200 {
		c.t.Fatalf("sign-in link: %s %v", resp.Status, err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(si.URL, c.url+protocol.ConsoleSignInPath+"?t=") {
		c.t.Fatalf("sign-in link %q", si.URL)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(si.URL)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	s := consoleSession{t: c.t, base: c.url}
	for _, ck := range resp.Cookies() {
		if ck.Name == protocol.ConsoleCookie {
			s.cookie = ck.Value
		}
	}
	if resp.StatusCode != http.StatusSeeOther || s.cookie == "" {
		c.t.Fatalf("sign-in: %s, cookies %v", resp.Status, resp.Cookies())
	}
	_, page := s.do(http.MethodGet, "/console/", nil)
	m := csrfMeta.FindSubmatch(page)
	if m == nil {
		c.t.Fatalf("no CSRF token in the page:\n%.500s", page)
	}
	s.csrf = string(m[1])
	return s
}

// do sends a request as the console's script does.
func (s consoleSession) do(method, path string, body []byte) (*http.Response, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.base+path, bytes.NewReader(body))
	req.AddCookie(&http.Cookie{Name: protocol.ConsoleCookie, Value: s.cookie})
	if s.csrf != "" {
		req.Header.Set(protocol.ConsoleCSRFHeader, s.csrf)
	}
	req.Header.Set("Origin", s.base)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (s consoleSession) must(method, path string, body []byte, want int) []byte {
	s.t.Helper()
	resp, b := s.do(method, path, body)
	if resp.StatusCode != want {
		s.t.Fatalf("%s %s: %s %s (want %d)", method, path, resp.Status, b, want)
	}
	return b
}

func smallPNG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	img.Set(0, 0, color.White)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestConsoleSessionIsTheSameAPI checks that a console session goes
// through the admin API's own permission checks as its user: nothing more
// than a signature of that user would get.
func TestConsoleSessionIsTheSameAPI(t *testing.T) {
	c := newCluster(t, 1, func(cfg *gateway.Config, _ *gateway.Deps) { cfg.Console.SampleEvery = 50 * time.Millisecond })
	var alice gateway.NewUser
	if err := json.Unmarshal(c.mustAdmin(http.MethodPost, "/v1/users", []byte(`{"name":"alice"}`)), &alice); err != nil {
		t.Fatal(err)
	}
	c.mustAdmin(http.MethodPut, "/v1/buckets/root-private", []byte(`{"private":true}`))
	c.mustAdmin(http.MethodPut, "/v1/objects/root-private/secret.png", smallPNG(t))
	c.mustAdmin(http.MethodPut, "/v1/ufops/root-ufop", []byte(`{"mode":0}`))

	root := c.signIn(c.ak, c.sk)
	as := c.signIn(alice.AK, alice.SK)

	// Alice's own things work through the session: a bucket, an upload.
	as.must(http.MethodPut, "/v1/buckets/alice-pics", []byte(`{"private":true}`), 200)
	img := smallPNG(t)
	as.must(http.MethodPut, "/v1/objects/alice-pics/dir/a.png", img, 200)
	if got := as.must(http.MethodGet, "/v1/objects/alice-pics/dir/a.png", nil, 200); !bytes.Equal(got, img) {
		t.Fatalf("read back %d bytes, uploaded %d", len(got), len(img))
	}
	var bl struct{ Buckets []ufop.Bucket }
	json.Unmarshal(as.must(http.MethodGet, "/v1/buckets", nil, 200), &bl)
	if len(bl.Buckets) != 1 || bl.Buckets[0].Name != "alice-pics" {
		t.Errorf("alice lists %+v", bl.Buckets)
	}

	// What is not hers is refused as for her signature.
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/buckets/root-private"},
		{"GET", "/v1/objects/root-private/secret.png"},
		{"DELETE", "/v1/buckets/root-private"},
		{"GET", "/v1/users"},
		{"GET", "/v1/limits"},
		{"GET", "/v1/ufops/root-ufop/history"},
		{"PUT", "/v1/ufops/root-ufop/scale"},
	} {
		as.must(r.method, r.path, []byte(`{"min":1,"max":2,"threshold":1}`), 403)
	}

	// Signed download URLs: hers open her private object; one for
	// another user's object is signed by her key and so still refused.
	sign := func(s consoleSession, path string) string {
		var out struct{ URL string }
		body, _ := json.Marshal(map[string]any{"path": path, "expires": 60})
		json.Unmarshal(s.must(http.MethodPost, "/v1/console/sign", body, 200), &out)
		return out.URL
	}
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/alice-pics/dir/a.png", 200},
		{"/alice-pics/dir/a.png?imageInfo", 200},
		{"/root-private/secret.png", 401},
	} {
		u := sign(as, tc.path)
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want && !(tc.want == 401 && resp.StatusCode == 403) {
			t.Errorf("signed %s: %s, want %d", tc.path, resp.Status, tc.want)
		}
		if pu, _ := url.Parse(u); !strings.Contains(pu.RawQuery, "token="+alice.AK+":") {
			t.Errorf("signed URL %s is not signed with alice's key", u)
		}
	}
	as.must(http.MethodPost, "/v1/console/sign", []byte(`{"path":"//evil.test/x"}`), 400)
	as.must(http.MethodPost, "/v1/console/sign", []byte(`{"path":"/a/b","expires":99999999}`), 400)

	// The overview: cluster internals for admins only; errors for whom
	// they concern.
	root.must(http.MethodGet, "/v1/buckets/no-such-bucket", nil, 404)
	var ov gateway.Overview
	json.Unmarshal(as.must(http.MethodGet, "/v1/overview", nil, 200), &ov)
	if len(ov.Agents) != 0 || len(ov.Gateways) != 0 || len(ov.Queues) != 0 {
		t.Errorf("alice's overview shows agents %v, gateways %v, queues %v", ov.Agents, ov.Gateways, ov.Queues)
	}
	seen := map[string]bool{}
	for _, e := range ov.Errors {
		seen[e.Method+" "+e.Path] = true
	}
	if !seen["GET /v1/buckets/root-private"] || seen["GET /v1/buckets/no-such-bucket"] {
		t.Errorf("alice's overview errors: %+v", ov.Errors)
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		var ov gateway.Overview
		json.Unmarshal(root.must(http.MethodGet, "/v1/overview", nil, 200), &ov)
		return len(ov.Agents) == 1 && len(ov.Gateways) == 1 && len(ov.Queues) == 1 && len(ov.Errors) > 0
	}, "the admin's overview shows the agent, the gateway, the UFOP and the errors")

	// The chart's samples come in for the UFOP.
	testenv.Eventually(t, 5*time.Second, func() bool {
		var h gateway.History
		json.Unmarshal(root.must(http.MethodGet, "/v1/ufops/root-ufop/history", nil, 200), &h)
		return h.UFOP == "root-ufop" && len(h.Samples) >= 2 && h.SampleEvery == 0.05
	}, "samples of root-ufop")
	root.must(http.MethodPut, "/v1/ufops/root-ufop/scale", []byte(`{"min":0,"max":3,"threshold":2,"cooldown":1000000000}`), 200)

	// The console's path is no bucket name.
	if resp := c.admin(http.MethodPut, "/v1/buckets/console", nil, c.ak, c.sk); resp.StatusCode != 400 {
		t.Errorf("bucket console: %s", resp.Status)
	}

	// A session cannot mint sign-in links; a signature can.
	as.must(http.MethodPost, protocol.ConsoleSignInAPI, nil, 403)

	// Signed out, the session is gone; the cookie is refused with 401.
	as.must(http.MethodPost, "/console/signout", nil, 204)
	as.must(http.MethodGet, "/v1/whoami", nil, 401)
}
