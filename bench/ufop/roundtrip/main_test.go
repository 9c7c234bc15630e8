package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop/bench/ufop/rig"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    config
		wantErr string
	}{
		{name: "defaults", args: nil, want: config{images: "../shared/testdata/images", payload: "portrait.jpg",
			instances: 2, workers: 2, dur: 5 * time.Second, rounds: 3, targets: []string{"container", "http", "queue"}, slots: 1, profile: "queue"}},
		{name: "workers follow instances", args: []string{"-instances", "4"}, want: config{images: "../shared/testdata/images", payload: "portrait.jpg",
			instances: 4, workers: 4, dur: 5 * time.Second, rounds: 3, targets: []string{"container", "http", "queue"}, slots: 1, profile: "queue"}},
		{name: "as bench/queue/run.sh", args: []string{"-images", "imgs", "-payload", "grayscale.jpg", "-c", "8", "-d", "2s", "-rounds", "1", "-targets", "queue,http", "-v"},
			want: config{images: "imgs", payload: "grayscale.jpg", instances: 2, workers: 8, dur: 2 * time.Second, rounds: 1, targets: []string{"queue", "http"}, verbose: true, slots: 1, profile: "queue"}},
		{name: "cold starts, unbounded container", args: []string{"-coldstarts", "5", "-slots", "0", "-cpuprofile", "q.prof"},
			want: config{images: "../shared/testdata/images", payload: "portrait.jpg", instances: 2, workers: 2, dur: 5 * time.Second, rounds: 3,
				targets: []string{"container", "http", "queue"}, slots: 0, cpuprofile: "q.prof", profile: "queue", coldstarts: 5}},
		{name: "negative slots", args: []string{"-slots", "-1"}, wantErr: "-slots -1"},
		{name: "negative cold starts", args: []string{"-coldstarts", "-2"}, wantErr: "-coldstarts -2"},
		{name: "unknown target", args: []string{"-targets", "container,grpc"}, wantErr: `unknown target "grpc"`},
		{name: "empty target", args: []string{"-targets", ""}, wantErr: `unknown target ""`},
		{name: "target twice", args: []string{"-targets", "http,http"}, wantErr: `target "http" twice`},
		{name: "no instances", args: []string{"-instances", "0"}, wantErr: "-instances 0"},
		{name: "negative clients", args: []string{"-c", "-1"}, wantErr: "-c -1"},
		{name: "zero duration", args: []string{"-d", "0s"}, wantErr: "-d 0s"},
		{name: "no rounds", args: []string{"-rounds", "0"}, wantErr: "-rounds 0"},
		{name: "stray argument", args: []string{"portrait.jpg"}, wantErr: "unexpected arguments"},
		{name: "bad flag value", args: []string{"-d", "soon"}, wantErr: "invalid value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfig(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("config %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := parseConfig([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp (main exits 0)", err)
	}
}

func TestWriteTable(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		d := make([]time.Duration, len(v))
		for i, x := range v {
			d[i] = time.Duration(x) * time.Millisecond
		}
		return d
	}
	stats := map[string]*rig.Stats{
		"container": {Lat: ms(2, 1, 3, 4), Elapsed: 2 * time.Second},
		"http":      {Lat: ms(1, 1, 2, 2), Elapsed: time.Second},
		"queue":     {Lat: ms(5, 6), Errors: 1, FirstErr: "502 Bad Gateway: no instance", Elapsed: 2 * time.Second},
	}
	var buf bytes.Buffer
	writeTable(&buf, []string{"container", "http", "queue"}, stats)
	want := "| target | requests | errors | p50 | p99 | req/s | p50 vs container | req/s vs container |\n" +
		"|---|---|---|---|---|---|---|---|\n" +
		"| container | 4 | 0 | 3ms | 4ms | 2 | +0s | 1.00× |\n" +
		"| http | 4 | 0 | 2ms | 2ms | 4 | -1ms | 2.00× |\n" +
		"| queue | 2 | 1 | 6ms | 6ms | 1 | +3ms | 0.50× |\n" +
		"  first error of queue: 502 Bad Gateway: no instance\n"
	if buf.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
}

// A gateway target asks the gateway for the object through the UFOP, with
// the key escaped as a path.
func TestGatewayTarget(t *testing.T) {
	var gotPath, gotQuery string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotQuery = r.URL.EscapedPath(), r.URL.RawQuery
		if r.Method != http.MethodGet {
			http.Error(w, "method", http.StatusMethodNotAllowed)
		}
	}))
	defer srv.Close()
	tg := gatewayTarget("http", srv.URL, "dir/my photo?.jpg", "rt-1/0")
	if tg.Name != "http" {
		t.Errorf("name %q", tg.Name)
	}
	if err := tg.Do(context.Background(), srv.Client(), 3); err != nil {
		t.Fatal(err)
	}
	if gotPath != "/pics/dir/my%20photo%3F.jpg" || gotQuery != "rt-1/0" {
		t.Errorf("requested %s?%s, want /pics/dir/my%%20photo%%3F.jpg?rt-1/0", gotPath, gotQuery)
	}
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such UFOP", http.StatusNotFound)
	})
	if err := tg.Do(context.Background(), srv.Client(), 0); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("on a 404: %v, want an error", err)
	}
}
