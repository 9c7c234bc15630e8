package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestHandlerServesBytesAndHeaders(t *testing.T) {
	body := []byte("\xff\xd8\xff\xe0 not really a jpeg, but these exact bytes")
	srv := httptest.NewServer(handler(body, "image/jpeg", time.Unix(1_700_000_000, 0)))
	defer srv.Close()

	tests := []struct {
		name       string
		method     string
		header     map[string]string
		wantStatus int
		wantBody   string
	}{
		{"get", http.MethodGet, nil, http.StatusOK, string(body)},
		{"any path, same bytes", http.MethodGet, nil, http.StatusOK, string(body)},
		{"head", http.MethodHead, nil, http.StatusOK, ""},
		{"range", http.MethodGet, map[string]string{"Range": "bytes=4-7"}, http.StatusPartialContent, string(body[4:8])},
		{"etag matches", http.MethodGet, map[string]string{"If-None-Match": `"static"`}, http.StatusNotModified, ""},
		{"etag differs", http.MethodGet, map[string]string{"If-None-Match": `"other"`}, http.StatusOK, string(body)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+"/some/key.jpg?imageView2/1/w/200", nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if string(got) != tt.wantBody {
				t.Errorf("body %q, want %q", got, tt.wantBody)
			}
			if resp.Header.Get("ETag") != `"static"` {
				t.Errorf("ETag %q", resp.Header.Get("ETag"))
			}
			if tt.wantStatus != http.StatusNotModified && resp.Header.Get("Content-Type") != "image/jpeg" {
				t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
			if tt.wantStatus == http.StatusOK && resp.ContentLength != int64(len(body)) {
				t.Errorf("Content-Length %d, want %d", resp.ContentLength, len(body))
			}
		})
	}
}

func TestRunRefusesBadFile(t *testing.T) {
	for _, file := range []string{"", filepath.Join(t.TempDir(), "absent.jpg")} {
		// Both fail before listening: the address is never used.
		if err := run("127.0.0.1:0", file, "image/jpeg"); err == nil {
			t.Errorf("run(file %q) = nil, want an error", file)
		} else if file != "" && !os.IsNotExist(err) {
			t.Errorf("run(file %q) = %v, want not-exist", file, err)
		}
	}
}
