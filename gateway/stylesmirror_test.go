package gateway_test

import (
	"encoding/json"
	"image/color"
	"net/http"
	"testing"
)

// TestStylesOnMirror: a styled download of a missing key of a mirror
// bucket fetches the KEY (never KEY<c>NAME) from the origin once, stores
// it and answers through the style; protected originals hold there too.
func TestStylesOnMirror(t *testing.T) {
	photo := testJPEG(t, 320, 240, color.RGBA{200, 40, 40, 255})
	o := newOrigin(t, photo)
	c := newCluster(t, 1, withMirror("127.0.0.1/32"))
	c.mustAdmin(http.MethodPut, "/v1/buckets/mir", []byte(`{"mirror":"`+o.URL+`"}`))
	c.mustAdmin(http.MethodPatch, "/v1/buckets/mir", []byte(`{"styleSep":"-","protectOriginal":true}`))
	c.mustAdmin(http.MethodPut, "/v1/buckets/mir/styles/thumb", []byte(`{"fops":"imageView2/2/w/30|imageInfo"}`))
	for i, tc := range []struct {
		path   string
		status int
		width  int
	}{
		{"/mir/ok/a.jpg-thumb", 200, 30},
		{"/mir/ok/a.jpg-thumb", 200, 30},
		{"/mir/ok/b.jpg?style/thumb", 200, 30},
		{"/mir/ok/a.jpg", 401, 0},
		{"/mir/ok/c.jpg", 401, 0},
	} {
		resp, body := c.get(tc.path)
		if resp.StatusCode != tc.status {
			t.Fatalf("%d %s: %s %s", i, tc.path, resp.Status, body)
		}
		if tc.width != 0 {
			var info struct{ Width int }
			json.Unmarshal(body, &info)
			if info.Width != tc.width {
				t.Fatalf("%s: %s", tc.path, body)
			}
		}
	}
	for path, want := range map[string]int{"/ok/a.jpg": 1, "/ok/a.jpg-thumb": 0, "/ok/b.jpg": 1, "/ok/c.jpg": 0} {
		if got := o.count(path); got != want {
			t.Errorf("origin asked %d times for %s, want %d", got, path, want)
		}
	}
	if _, ok := c.stored("mir", "ok/a.jpg"); !ok {
		t.Error("ok/a.jpg not stored")
	}
}
