package ufopctl

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/protocol"
)

// TestConsoleVerb checks that ufopctl console sends a signed POST to the
// sign-in call and prints the link (alone on its line, or as JSON).
func TestConsoleVerb(t *testing.T) {
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		cred, err := auth.ParseAuthorization(r.Header.Get("Authorization"))
		if err != nil || r.Method != http.MethodPost || r.URL.Path != protocol.ConsoleSignInAPI ||
			auth.VerifyRequest(r.Method, auth.RequestPathAndQuery(r), auth.EmptyBodyHash, cred, "sk", time.Now(), 0) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{"code": 401, "error": "bad signature"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(protocol.ConsoleSignIn{URL: "http://" + r.Host + "/console/signin?t=abc", Expires: "2026-01-01T00:05:00Z"})
	}))
	defer srv.Close()
	conf := t.TempDir() + "/c.json"
	if err := SaveConfig(conf, Config{Endpoint: srv.URL, AK: "ak", SK: "sk"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"console"}, srv.URL + "/console/signin?t=abc\n"},
		{[]string{"console", "-o", "json"}, `"url": "` + srv.URL + `/console/signin?t=abc"`},
	} {
		var out, errb bytes.Buffer
		code := Main(context.Background(), append([]string{"--config", conf}, tc.args...), Env{Stdin: strings.NewReader(""),
			Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
		if code != 0 || !strings.Contains(out.String(), tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", tc.args, code, out.String(), errb.String())
		}
	}
	// A wrong key: one clear line and a non-zero exit.
	if err := SaveConfig(conf, Config{Endpoint: srv.URL, AK: "ak", SK: "wrong"}); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"--config", conf, "console"}, Env{Stdin: strings.NewReader(""),
		Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	if code == 0 || out.Len() != 0 || !strings.Contains(errb.String(), "console:") || strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
		t.Errorf("wrong key: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	if calls != 3 {
		t.Errorf("%d calls, want 3", calls)
	}
}
