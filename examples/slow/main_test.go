package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop/sdk"
)

func TestSlowEcho(t *testing.T) {
	srv := httptest.NewServer(sdk.NewServer(handle, sdk.Options{}))
	defer srv.Close()
	tests := []struct {
		cmd, ct, body string
		status        int
		wantCT, want  string
		minWait       time.Duration
	}{
		{"my-slow", "image/png", "PNG", 200, "image/png", "PNG", defaultDelay},
		{"my-slow/0", "", "raw", 200, "application/octet-stream", "raw", 0},
		{"my-slow/50", "text/plain", "hello", 200, "text/plain", "hello", 50 * time.Millisecond},
		{"my-slow/x", "", "", 400, "text/plain; charset=utf-8", `my-slow: parameter delay: "x" is not a number of milliseconds`, 0},
		{"my-slow/60001", "", "", 400, "text/plain; charset=utf-8", "from 0 to 60000", 0},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			start := time.Now()
			resp, err := http.Post(srv.URL+"/handler?cmd="+tt.cmd, tt.ct, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != tt.wantCT || !strings.Contains(string(b), tt.want) {
				t.Fatalf("got %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			// A lower bound only: the wait is the point of this UFOP.
			if waited := time.Since(start); waited < tt.minWait {
				t.Fatalf("answered after %s, want at least %s", waited, tt.minWait)
			}
		})
	}
}

func TestSlowAbandoned(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := handle(ctx, &sdk.Request{Name: "my-slow", Params: "60000", Body: []byte("x")})
	if err == nil {
		t.Fatal("a cancelled request still waited and answered")
	}
}
