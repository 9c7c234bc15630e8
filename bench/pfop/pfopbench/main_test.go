package main

import (
	"testing"
	"time"

	"github.com/ufop/ufop/fop"
)

// TestFops: every thumbnail of a 1,000-job run is distinct (no result
// cache can answer) and a valid pipeline.
func TestFops(t *testing.T) {
	seen := map[string]bool{}
	for j := range 1000 {
		for _, f := range fops(j) {
			if seen[f] {
				t.Fatalf("job %d repeats %s", j, f)
			}
			seen[f] = true
			if _, err := fop.Parse(f, 0); err != nil {
				t.Fatalf("job %d: %s: %v", j, f, err)
			}
		}
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"-jobs", "10", "-c", "2", "-order", "pfop,sync"}, true},
		{[]string{"-jobs", "0"}, false},
		{[]string{"-c", "0"}, false},
		{[]string{"-nope"}, false},
	} {
		if _, err := parseConfig(tc.args); (err == nil) != tc.ok {
			t.Errorf("%v: %v", tc.args, err)
		}
	}
}

func TestStats(t *testing.T) {
	s := stats{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if s.pct(0.5) != 6 || s.pct(0.99) != 10 || (stats{}).pct(0.5) != 0 {
		t.Errorf("pct: %v %v", s.pct(0.5), s.pct(0.99))
	}
	r := result{elapsed: 2 * time.Second, jobs: 10}
	if r.rate() != 5 {
		t.Errorf("rate %v", r.rate())
	}
}
