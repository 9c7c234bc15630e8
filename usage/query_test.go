package usage

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func row(ts, owner, bucket, cmd string, req, errs, bytes, us int64) Row {
	return Row{Time: at(ts), Owner: owner, Bucket: bucket, Cmd: cmd, Counts: Counts{req, errs, bytes, us}}
}

func TestRollup(t *testing.T) {
	in := []Row{
		row("2026-03-01T10:59:00Z", "alice", "pics", "get", 1, 0, 100, 1500),
		row("2026-03-01T10:01:00Z", "alice", "pics", "get", 2, 1, 50, 500),
		row("2026-03-01T11:00:00Z", "alice", "pics", "get", 4, 0, 10, 1000),
		row("2026-03-01T10:01:00Z", "alice", "pics", "imageView2", 3, 0, 30, 3000),
		row("2026-03-01T10:01:00Z", "bob", "bob-pics", "get", 5, 5, 0, 7),
		row("2026-03-02T00:00:00Z", "alice", "pics", "get", 8, 0, 1, 1),
		row("2026-03-01T23:59:00Z", "alice", "pics", "get", 16, 0, 2, 2),
	}
	cases := []struct {
		by   Period
		want []Row
	}{
		{Minute, []Row{
			row("2026-03-01T10:01:00Z", "alice", "pics", "get", 2, 1, 50, 500),
			row("2026-03-01T10:01:00Z", "alice", "pics", "imageView2", 3, 0, 30, 3000),
			row("2026-03-01T10:01:00Z", "bob", "bob-pics", "get", 5, 5, 0, 7),
			row("2026-03-01T10:59:00Z", "alice", "pics", "get", 1, 0, 100, 1500),
			row("2026-03-01T11:00:00Z", "alice", "pics", "get", 4, 0, 10, 1000),
			row("2026-03-01T23:59:00Z", "alice", "pics", "get", 16, 0, 2, 2),
			row("2026-03-02T00:00:00Z", "alice", "pics", "get", 8, 0, 1, 1),
		}},
		{Hour, []Row{
			row("2026-03-01T10:00:00Z", "alice", "pics", "get", 3, 1, 150, 2000),
			row("2026-03-01T10:00:00Z", "alice", "pics", "imageView2", 3, 0, 30, 3000),
			row("2026-03-01T10:00:00Z", "bob", "bob-pics", "get", 5, 5, 0, 7),
			row("2026-03-01T11:00:00Z", "alice", "pics", "get", 4, 0, 10, 1000),
			row("2026-03-01T23:00:00Z", "alice", "pics", "get", 16, 0, 2, 2),
			row("2026-03-02T00:00:00Z", "alice", "pics", "get", 8, 0, 1, 1),
		}},
		{Day, []Row{
			row("2026-03-01T00:00:00Z", "alice", "pics", "get", 23, 1, 162, 3002),
			row("2026-03-01T00:00:00Z", "alice", "pics", "imageView2", 3, 0, 30, 3000),
			row("2026-03-01T00:00:00Z", "bob", "bob-pics", "get", 5, 5, 0, 7),
			row("2026-03-02T00:00:00Z", "alice", "pics", "get", 8, 0, 1, 1),
		}},
	}
	for _, c := range cases {
		t.Run(string(c.by), func(t *testing.T) {
			got := Rollup(in, c.by)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Rollup by %s:\n got %v\nwant %v", c.by, got, c.want)
			}
		})
	}
	if got := Rollup(nil, Day); got == nil || len(got) != 0 {
		t.Errorf("Rollup of nothing = %#v, want an empty slice (JSON [])", got)
	}
}

func TestRowPublic(t *testing.T) {
	r := row("2026-03-01T10:00:00Z", "alice", "pics", "get", 3, 1, 150, 2999).Public()
	if r.ProcessMS != 2 || r.User != "alice" || r.Requests != 3 || r.Errors != 1 || r.BytesOut != 150 {
		t.Errorf("Public() = %+v", r)
	}
}

func TestParseFilter(t *testing.T) {
	now := at("2026-03-01T10:30:20Z")
	cases := []struct {
		query   string
		want    Filter
		wantErr string
	}{
		{"", Filter{From: at("2026-02-28T10:31:00Z"), To: at("2026-03-01T10:31:00Z"), By: Minute}, ""},
		{"user=alice&bucket=pics&by=hour&from=2026-03-01T00:00:00Z&to=2026-03-01T06:00:00Z",
			Filter{Owner: "alice", Bucket: "pics", From: at("2026-03-01T00:00:00Z"), To: at("2026-03-01T06:00:00Z"), By: Hour}, ""},
		{"from=2026-03-01T08:00:00%2B08:00&by=day", Filter{From: at("2026-03-01T00:00:00Z"), To: at("2026-03-01T10:31:00Z"), By: Day}, ""},
		{"by=week", Filter{}, `by "week"`},
		{"from=yesterday", Filter{}, `from "yesterday"`},
		{"to=2026-13-01T00:00:00Z", Filter{}, `to "2026-13-01T00:00:00Z"`},
		{"from=2026-03-02T00:00:00Z", Filter{}, "is not before to"},
		{"from=2024-01-01T00:00:00Z", Filter{}, "over 366 days"},
		{"from=1000-01-01T00:00:00Z&to=1000-01-02T00:00:00Z", Filter{}, "between the years"},
		{"owner=alice", Filter{}, `unknown parameter "owner"`},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			q, err := url.ParseQuery(c.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseFilter(q, now)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || ufop.KindOf(err) != ufop.KindInvalid {
					t.Fatalf("ParseFilter(%q) error = %v, want invalid with %q", c.query, err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("ParseFilter(%q) = %+v, want %+v", c.query, got, c.want)
			}
			// A filter sent on is read back the same.
			back, err := ParseFilter(got.Values(), now)
			if err != nil || !reflect.DeepEqual(back, got) {
				t.Errorf("round trip: %+v, %v", back, err)
			}
		})
	}
}

// FuzzParseFilter feeds arbitrary queries: parsing never panics, and an
// accepted filter is a valid period of at most MaxRange.
func FuzzParseFilter(f *testing.F) {
	f.Add("user=alice&from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z&by=hour")
	f.Add("by=day")
	f.Add("from=0000-01-01T00:00:00Z")
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		fl, err := ParseFilter(q, at("2026-03-01T10:30:20Z"))
		if err != nil {
			if ufop.KindOf(err) != ufop.KindInvalid {
				t.Fatalf("error of kind %v: %v", ufop.KindOf(err), err)
			}
			return
		}
		if !fl.From.Before(fl.To) || fl.To.Sub(fl.From) > MaxRange {
			t.Fatalf("accepted %+v", fl)
		}
		if _, err := ParsePeriod(string(fl.By)); err != nil {
			t.Fatalf("accepted period %q", fl.By)
		}
	})
}

func TestStoreKey(t *testing.T) {
	m := MinuteOf(at("2026-03-01T10:30:20Z"))
	k := storeKey("alice", m)
	if k != "alice.20260301.1030" {
		t.Fatalf("storeKey = %q", k)
	}
	owner, tm, ok := parseKey(k)
	if !ok || owner != "alice" || !tm.Equal(at("2026-03-01T10:30:00Z")) {
		t.Fatalf("parseKey(%q) = %q %v %v", k, owner, tm, ok)
	}
	for _, bad := range []string{"alice", "alice.2026", "alice.20260301.2561"} {
		if _, _, ok := parseKey(bad); ok {
			t.Errorf("parseKey(%q) accepted", bad)
		}
	}
}
