package usage

import (
	"cmp"
	"net/url"
	"slices"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/protocol"
)

// Row is one series over a period: a minute as stored, or an hour or day
// after Rollup.
type Row struct {
	Time   time.Time
	Owner  string
	Bucket string
	Cmd    string
	Counts
}

// Public returns the row as the admin API shows it.
func (r Row) Public() protocol.UsageRow {
	return protocol.UsageRow{Time: r.Time, User: r.Owner, Bucket: r.Bucket, Cmd: r.Cmd, Requests: r.Requests,
		Errors: r.Errors, BytesOut: r.BytesOut, ProcessMS: r.ProcessMicros / 1000}
}

// Period is what Rollup sums rows by.
type Period string

// Periods of Rollup.
const (
	Minute Period = "minute"
	Hour   Period = "hour"
	Day    Period = "day"
)

// Truncate returns the start of t's period (UTC).
func (p Period) Truncate(t time.Time) time.Time {
	t = t.UTC()
	switch p {
	case Hour:
		return t.Truncate(time.Hour)
	case Day:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	return t.Truncate(time.Minute)
}

// ParsePeriod reads minute, hour or day; empty is minute.
func ParsePeriod(s string) (Period, error) {
	switch p := Period(s); p {
	case "":
		return Minute, nil
	case Minute, Hour, Day:
		return p, nil
	}
	return "", ufop.Errorf(ufop.KindInvalid, "usage: by %q: use minute, hour or day", s)
}

// Rollup sums rows by period, owner, bucket and command, sorted by time,
// then owner, bucket and command.
func Rollup(rows []Row, by Period) []Row {
	type key struct {
		t                  int64
		owner, bucket, cmd string
	}
	sums := map[key]int{}
	out := []Row{}
	for _, r := range rows {
		t := by.Truncate(r.Time)
		k := key{t.Unix(), r.Owner, r.Bucket, r.Cmd}
		if i, ok := sums[k]; ok {
			out[i].Add(r.Counts)
			continue
		}
		sums[k] = len(out)
		r.Time = t
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Row) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Owner, b.Owner), cmp.Compare(a.Bucket, b.Bucket),
			cmp.Compare(a.Cmd, b.Cmd))
	})
	return out
}

// Filter selects rows: of one owner (all when empty), one bucket (all when
// empty), with minutes in [From, To).
type Filter struct {
	Owner  string
	Bucket string
	From   time.Time
	To     time.Time
	By     Period
}

// MaxRange bounds the period of one query.
const MaxRange = 366 * 24 * time.Hour

// DefaultRange is the period of a query without from: the day up to to.
const DefaultRange = 24 * time.Hour

// ParseFilter reads the query of the usage endpoint (protocol.UsagePath).
// to defaults to the end of now's minute, from to a day before to.
func ParseFilter(q url.Values, now time.Time) (Filter, error) {
	for k := range q {
		switch k {
		case protocol.UsageParamUser, protocol.UsageParamBucket, protocol.UsageParamFrom, protocol.UsageParamTo, protocol.UsageParamBy:
		default:
			return Filter{}, ufop.Errorf(ufop.KindInvalid, "usage: unknown parameter %q: use user, bucket, from, to, by", k)
		}
	}
	f := Filter{Owner: q.Get(protocol.UsageParamUser), Bucket: q.Get(protocol.UsageParamBucket)}
	var err error
	if f.By, err = ParsePeriod(q.Get(protocol.UsageParamBy)); err != nil {
		return Filter{}, err
	}
	f.To = now.UTC().Truncate(time.Minute).Add(time.Minute)
	if s := q.Get(protocol.UsageParamTo); s != "" {
		if f.To, err = time.Parse(time.RFC3339, s); err != nil {
			return Filter{}, ufop.Errorf(ufop.KindInvalid, "usage: to %q is not an RFC 3339 time (2006-01-02T15:04:05Z)", s)
		}
	}
	f.From = f.To.Add(-DefaultRange)
	if s := q.Get(protocol.UsageParamFrom); s != "" {
		if f.From, err = time.Parse(time.RFC3339, s); err != nil {
			return Filter{}, ufop.Errorf(ufop.KindInvalid, "usage: from %q is not an RFC 3339 time (2006-01-02T15:04:05Z)", s)
		}
	}
	f.From, f.To = f.From.UTC(), f.To.UTC()
	switch {
	case !f.From.Before(f.To):
		return Filter{}, ufop.Errorf(ufop.KindInvalid, "usage: from %s is not before to %s", f.From.Format(time.RFC3339), f.To.Format(time.RFC3339))
	case f.To.Sub(f.From) > MaxRange:
		return Filter{}, ufop.Errorf(ufop.KindInvalid, "usage: from %s to %s is over %d days: ask for a shorter period",
			f.From.Format(time.RFC3339), f.To.Format(time.RFC3339), int(MaxRange/(24*time.Hour)))
	case f.From.Year() < 2000 || f.To.Year() > 9999:
		return Filter{}, ufop.Errorf(ufop.KindInvalid, "usage: from and to must be between the years 2000 and 9999")
	}
	return f, nil
}

// Values returns f as the usage endpoint's query.
func (f Filter) Values() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set(protocol.UsageParamUser, f.Owner)
	set(protocol.UsageParamBucket, f.Bucket)
	if !f.From.IsZero() {
		q.Set(protocol.UsageParamFrom, f.From.UTC().Format(time.RFC3339))
	}
	if !f.To.IsZero() {
		q.Set(protocol.UsageParamTo, f.To.UTC().Format(time.RFC3339))
	}
	set(protocol.UsageParamBy, string(f.By))
	return q
}

// match reports whether a stored row falls within f.
func (f Filter) match(r Row) bool {
	return (f.Owner == "" || r.Owner == f.Owner) && (f.Bucket == "" || r.Bucket == f.Bucket) &&
		!r.Time.Before(f.From) && r.Time.Before(f.To)
}
