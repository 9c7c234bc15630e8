package ufopctl

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ufop/ufop/protocol"
)

// UsageRow is one row of `ufopctl usage` (SPEC §14).
type UsageRow = protocol.UsageRow

// UsageQuery selects usage rows; zero fields take the server's defaults
// (the caller's own rows, the last day, by minute).
type UsageQuery struct {
	User, Bucket string
	From, To     time.Time
	By           string
}

// Usage returns the usage rows q selects: a user's own, or anyone's for an
// admin.
func (c *Client) Usage(ctx context.Context, q UsageQuery) ([]UsageRow, error) {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set(protocol.UsageParamUser, q.User)
	set(protocol.UsageParamBucket, q.Bucket)
	if !q.From.IsZero() {
		v.Set(protocol.UsageParamFrom, q.From.UTC().Format(time.RFC3339))
	}
	if !q.To.IsZero() {
		v.Set(protocol.UsageParamTo, q.To.UTC().Format(time.RFC3339))
	}
	set(protocol.UsageParamBy, q.By)
	path := protocol.UsagePath
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	rows := []UsageRow{}
	err := c.Do(ctx, http.MethodGet, path, nil, &rows)
	return rows, err
}

// parseWhen reads a --from or --to time: RFC 3339, a UTC date
// (2006-01-02) or minute (2006-01-02T15:04), or a duration meaning that
// long before now (90m, 24h, 7d).
func parseWhen(s string, now time.Time) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 && n <= 100000 {
			return now.AddDate(0, 0, -n), nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usagef("time %q: use RFC 3339 (2006-01-02T15:04:05Z), a UTC date or minute (2006-01-02, 2006-01-02T15:04), or how long ago (90m, 24h, 7d)", s)
}

func runUsage(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	user := fs.String("user", "", "rows of this `user` (admins; default: your own, or everyone's for an admin)")
	bucket := fs.String("bucket", "", "rows of this `bucket` only")
	from := fs.String("from", "", "from this `time` (RFC 3339, 2006-01-02, or how long ago: 24h, 7d; default: a day before --to)")
	to := fs.String("to", "", "up to this `time`, excluded (default: now)")
	by := fs.String("by", "minute", "sum rows by `period`: minute, hour or day")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	switch *by {
	case "minute", "hour", "day":
	default:
		return usagef("--by %q: use minute, hour or day", *by)
	}
	q := UsageQuery{User: *user, Bucket: *bucket, By: *by}
	now := time.Now()
	var err error
	if *from != "" {
		if q.From, err = parseWhen(*from, now); err != nil {
			return err
		}
	}
	if *to != "" {
		if q.To, err = parseWhen(*to, now); err != nil {
			return err
		}
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("usage: %w", err)
	}
	rows, err := cl.Usage(ctx, q)
	if err != nil {
		return fmt.Errorf("usage: %w", err)
	}
	if c.json() {
		return c.printJSON(rows)
	}
	layout := "2006-01-02 15:04"
	if *by == "day" {
		layout = "2006-01-02"
	}
	tw := c.table()
	fmt.Fprintln(tw, "TIME (UTC)\tUSER\tBUCKET\tCMD\tREQUESTS\tERRORS\tBYTES_OUT\tPROCESS_MS")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", r.Time.UTC().Format(layout), r.User, r.Bucket, r.Cmd,
			r.Requests, r.Errors, r.BytesOut, r.ProcessMS)
	}
	return tw.Flush()
}
