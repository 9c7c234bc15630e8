package ufopctl

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop/protocol"
)

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC)
	cases := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"2026-02-28T08:00:00Z", time.Date(2026, 2, 28, 8, 0, 0, 0, time.UTC), false},
		{"2026-02-28T08:00:00+02:00", time.Date(2026, 2, 28, 6, 0, 0, 0, time.UTC), false},
		{"2026-02-28T08:15", time.Date(2026, 2, 28, 8, 15, 0, 0, time.UTC), false},
		{"2026-02-28", time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC), false},
		{"90m", now.Add(-90 * time.Minute), false},
		{"24h", now.Add(-24 * time.Hour), false},
		{"7d", now.AddDate(0, 0, -7), false},
		{"-1h", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"xd", time.Time{}, true},
		{"", time.Time{}, true},
	}
	for _, c := range cases {
		got, err := parseWhen(c.in, now)
		if (err != nil) != c.wantErr || !got.Equal(c.want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v (error %v)", c.in, got, err, c.want, c.wantErr)
		}
	}
}

// `ufopctl usage` sends the filter as the API's query and prints the rows
// as JSON or as a table.
func TestUsageVerb(t *testing.T) {
	rows := []UsageRow{{Time: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), User: "alice", Bucket: "pics", Cmd: "imageView2",
		Requests: 12, Errors: 1, BytesOut: 34567, ProcessMS: 89}}
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != protocol.UsagePath || !strings.HasPrefix(r.Header.Get("Authorization"), "UFOP AK") {
			http.Error(w, `{"code":404,"error":"no"}`, 404)
			return
		}
		q := r.URL.Query()
		q.Del("ts") // the signature's
		q.Del("nonce")
		got = q.Encode()
		json.NewEncoder(w).Encode(rows)
	}))
	defer srv.Close()
	cfgPath := filepath.Join(t.TempDir(), "c.json")
	if err := SaveConfig(cfgPath, Config{Endpoint: srv.URL, AK: "AKX", SK: "sk"}); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), append([]string{"--config", cfgPath}, args...), Env{Stdout: &out, Stderr: &errOut})
		return code, out.String(), errOut.String()
	}
	code, out, errOut := run("usage", "--user", "alice", "--bucket", "pics", "--from", "2026-03-01", "--to", "2026-03-02T00:00:00Z", "--by", "hour", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := "bucket=pics&by=hour&from=2026-03-01T00%3A00%3A00Z&to=2026-03-02T00%3A00%3A00Z&user=alice"; got != want {
		t.Errorf("query %q, want %q", got, want)
	}
	var back []map[string]any
	if err := json.Unmarshal([]byte(out), &back); err != nil || len(back) != 1 {
		t.Fatalf("-o json printed %q (%v)", out, err)
	}
	for _, k := range []string{"time", "user", "bucket", "cmd", "requests", "errors", "bytes_out", "process_ms"} {
		if _, ok := back[0][k]; !ok {
			t.Errorf("JSON row has no %q: %v", k, back[0])
		}
	}
	code, out, _ = run("usage")
	if code != 0 || got != "by=minute" {
		t.Fatalf("exit %d, query %q", code, got)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "TIME (UTC)") || strings.Join(strings.Fields(lines[1]), " ") != "2026-03-01 10:00 alice pics imageView2 12 1 34567 89" {
		t.Errorf("table:\n%s", out)
	}
	for _, bad := range [][]string{{"usage", "--by", "week"}, {"usage", "--from", "yesterday"}, {"usage", "extra"}} {
		if code, _, errOut := run(bad...); code == 0 || !strings.Contains(errOut, "usage") {
			t.Errorf("%v: exit %d, %q", bad, code, errOut)
		}
	}
}
