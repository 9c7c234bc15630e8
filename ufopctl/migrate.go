package ufopctl

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ufop/ufop/protocol"
)

// Bulk migration (SPEC §11): ufopctl migrate start|status|verify|pause|
// resume|rm|ls.

// MigrateStatus is the answer of migrate status.
type MigrateStatus = protocol.MigrateStatus

func migrationPath(name string) string { return "/v1/migrations/" + url.PathEscape(name) }

// StartMigration starts (or starts again) migration name.
func (c *Client) StartMigration(ctx context.Context, name string, req protocol.MigrateStart) (MigrateStatus, error) {
	var st MigrateStatus
	return st, c.Do(ctx, http.MethodPut, migrationPath(name), mustJSON(req), &st)
}

// PutMigrationList uploads the key list of an http(s) migration. It is
// read twice (hash, then send), never held in memory.
func (c *Client) PutMigrationList(ctx context.Context, name string, list io.ReadSeeker) (int64, error) {
	size, sum, err := hashSeeker(list)
	if err != nil {
		return 0, err
	}
	req, err := c.newRequest(ctx, http.MethodPut, migrationPath(name)+"/list", &progressReader{r: io.LimitReader(list, size), total: size}, size, sum)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "text/plain")
	resp, err := c.send(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		Keys int64 `json:"keys"`
	}
	return out.Keys, decode(resp, &out)
}

// MigrationStatus returns migration name's state and counters.
func (c *Client) MigrationStatus(ctx context.Context, name string) (MigrateStatus, error) {
	var st MigrateStatus
	return st, c.Do(ctx, http.MethodGet, migrationPath(name), nil, &st)
}

// ListMigrations returns the caller's migrations (every one for admins).
func (c *Client) ListMigrations(ctx context.Context) ([]MigrateStatus, error) {
	var out struct {
		Migrations []MigrateStatus `json:"migrations"`
	}
	return out.Migrations, c.Do(ctx, http.MethodGet, "/v1/migrations", nil, &out)
}

// VerifyMigration compares the source of migration name with its bucket.
func (c *Client) VerifyMigration(ctx context.Context, name string) (protocol.MigrateVerify, error) {
	var v protocol.MigrateVerify
	return v, c.Do(ctx, http.MethodGet, migrationPath(name)+"/verify", nil, &v)
}

// SetMigrationState pauses ("pause") or resumes ("resume") a migration.
func (c *Client) SetMigrationState(ctx context.Context, name, verb string) (MigrateStatus, error) {
	var st MigrateStatus
	return st, c.Do(ctx, http.MethodPost, migrationPath(name)+"/"+verb, nil, &st)
}

// RemoveMigration stops and forgets a migration (what it copied stays).
func (c *Client) RemoveMigration(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, migrationPath(name), nil, nil)
}

func runMigrateStart(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	var req protocol.MigrateStart
	fs.StringVar(&req.From, "from", "", "source `URL`: s3://BUCKET[/PREFIX]?endpoint=URL, http(s)://HOST/PREFIX (with --list) or file:///DIR (admins)")
	fs.StringVar(&req.To, "to", "", "target `bucket`")
	fs.IntVar(&req.Workers, "workers", 0, "copies at once on each agent (default 8)")
	list := fs.String("list", "", "`file` of keys, one a line, for an http(s) source")
	fs.StringVar(&req.AccessKey, "src-ak", "", "access key of an s3:// source (default $UFOP_SRC_ACCESS_KEY)")
	fs.StringVar(&req.SecretKey, "src-sk", "", "secret key of an s3:// source (default $UFOP_SRC_SECRET_KEY)")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	name := pos[0]
	if req.From == "" || req.To == "" {
		return usagef("--from and --to are required")
	}
	if req.AccessKey == "" {
		req.AccessKey = c.env.Getenv("UFOP_SRC_ACCESS_KEY")
	}
	if req.SecretKey == "" {
		req.SecretKey = c.env.Getenv("UFOP_SRC_SECRET_KEY")
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("migrate start %s: %w", name, err)
	}
	if *list != "" {
		f, err := os.Open(*list)
		if err != nil {
			return fmt.Errorf("migrate start %s: --list: %w", name, err)
		}
		defer f.Close()
		n, err := cl.PutMigrationList(ctx, name, f)
		if err != nil {
			return fmt.Errorf("migrate start %s: key list %s: %w", name, *list, err)
		}
		c.printf("uploaded %d keys from %s\n", n, *list)
	}
	st, err := cl.StartMigration(ctx, name, req)
	if err != nil {
		return fmt.Errorf("migrate start %s: %w", name, err)
	}
	if c.json() {
		return c.printJSON(st)
	}
	c.printf("started migration %s: %s → %s (%d workers); follow it with ufopctl migrate status %s --watch\n",
		st.Name, st.From, st.To, st.Workers, st.Name)
	return nil
}

func runMigrateStatus(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	watch := fs.Bool("watch", false, "follow the job with a progress bar until it is done, failed or paused")
	interval := fs.Duration("interval", time.Second, "how often --watch asks")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	name := pos[0]
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("migrate status %s: %w", name, err)
	}
	st, err := cl.MigrationStatus(ctx, name)
	if err != nil {
		return fmt.Errorf("migrate status %s: %w", name, err)
	}
	if *watch {
		p := newMigrateProgress(c.env.Stderr)
		if c.json() {
			p.w = io.Discard
		}
		for st.State == protocol.MigrateRunning {
			p.show(st, time.Now())
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(*interval):
			}
			if st, err = cl.MigrationStatus(ctx, name); err != nil {
				return fmt.Errorf("migrate status %s: %w", name, err)
			}
		}
		p.show(st, time.Now())
		p.end()
	}
	if c.json() {
		if err := c.printJSON(st); err != nil {
			return err
		}
	} else {
		printMigration(c, st)
	}
	if *watch && st.State == protocol.MigrateFailed {
		return fmt.Errorf("migrate status %s: failed: %s", name, st.Error)
	}
	return nil
}

func printMigration(c *cli, st MigrateStatus) {
	tw := c.table()
	fmt.Fprintf(tw, "name\t%s\nstate\t%s\nfrom\t%s\nto\t%s\nworkers\t%d\n", st.Name, st.State, st.From, st.To, st.Workers)
	listed := fmt.Sprint(st.Listed)
	if !st.ListingDone {
		listed += " (listing…)"
	}
	fmt.Fprintf(tw, "listed\t%s\ncopied\t%d\nskipped\t%d\nfailed\t%d\nbytes\t%s\n", listed, st.Copied, st.Skipped, st.Failed, formatSize(st.Bytes))
	if st.Error != "" {
		fmt.Fprintf(tw, "error\t%s\n", st.Error)
	}
	tw.Flush()
	if len(st.Failures) > 0 {
		c.printf("\nfailed keys (first %d):\n", len(st.Failures))
		for _, f := range st.Failures {
			c.printf("  %s: %s\n", f.Key, f.Reason)
		}
	}
}

// migrateProgress draws `status --watch`: a bar of handled/listed keys,
// objects/s and MB/s over the last polls, and the ETA once the total is
// known.
type migrateProgress struct {
	w       io.Writer
	tty     bool
	samples []migrateSample
	lines   int
}

type migrateSample struct {
	at      time.Time
	handled int64
	bytes   int64
}

func newMigrateProgress(w io.Writer) *migrateProgress {
	return &migrateProgress{w: w, tty: isTerminal(w)}
}

// rate is objects/s and bytes/s over the samples of the last 10 s.
func (p *migrateProgress) rate() (float64, float64) {
	if len(p.samples) < 2 {
		return 0, 0
	}
	a, b := p.samples[0], p.samples[len(p.samples)-1]
	dt := b.at.Sub(a.at).Seconds()
	if dt <= 0 {
		return 0, 0
	}
	return float64(b.handled-a.handled) / dt, float64(b.bytes-a.bytes) / dt
}

// Line renders one progress line.
func (p *migrateProgress) line(st MigrateStatus, now time.Time) string {
	handled := st.Copied + st.Skipped + st.Failed
	p.samples = append(p.samples, migrateSample{at: now, handled: handled, bytes: st.Bytes})
	for len(p.samples) > 2 && now.Sub(p.samples[0].at) > 10*time.Second {
		p.samples = p.samples[1:]
	}
	ops, bps := p.rate()
	const width = 30
	frac := 0.0
	if st.Listed > 0 {
		frac = min(1, float64(handled)/float64(st.Listed))
	}
	fill := int(frac * width)
	bar := strings.Repeat("#", fill) + strings.Repeat(".", width-fill)
	eta := "ETA —"
	switch {
	case st.State == protocol.MigrateDone:
		eta = "done"
	case !st.ListingDone:
		eta = "ETA — (listing)"
	case ops > 0:
		eta = "ETA " + (time.Duration(float64(st.Listed-handled)/ops) * time.Second).Round(time.Second).String()
	}
	return fmt.Sprintf("%s [%s] %3.0f%% %d/%d  copied %d skipped %d failed %d  %.1f objects/s %.2f MB/s  %s",
		st.State, bar, frac*100, handled, st.Listed, st.Copied, st.Skipped, st.Failed, ops, bps/1e6, eta)
}

func (p *migrateProgress) show(st MigrateStatus, now time.Time) {
	l := p.line(st, now)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", l)
	} else {
		fmt.Fprintln(p.w, l)
	}
	p.lines++
}

func (p *migrateProgress) end() {
	if p.tty && p.lines > 0 {
		fmt.Fprintln(p.w)
	}
}

func runMigrateVerify(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags(), args, 1, 1)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("migrate verify %s: %w", pos[0], err)
	}
	v, err := cl.VerifyMigration(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("migrate verify %s: %w", pos[0], err)
	}
	if c.json() {
		return c.printJSON(v)
	}
	c.printf("checked %d keys: %d missing, %d different\n", v.Checked, len(v.Missing), len(v.Different))
	for _, k := range v.Missing {
		c.printf("missing\t%s\n", k)
	}
	for _, k := range v.Different {
		c.printf("different\t%s\n", k)
	}
	if v.Truncated {
		c.printf("(lists cut at their cap)\n")
	}
	if len(v.Missing)+len(v.Different) > 0 {
		return fmt.Errorf("migrate verify %s: %d keys missing, %d different", pos[0], len(v.Missing), len(v.Different))
	}
	return nil
}

func migrateStateVerb(verb, done string) func(ctx context.Context, c *cli, args []string) error {
	return func(ctx context.Context, c *cli, args []string) error {
		pos, err := c.parse(c.flags(), args, 1, 1)
		if err != nil {
			return err
		}
		cl, err := c.client()
		if err != nil {
			return fmt.Errorf("migrate %s %s: %w", verb, pos[0], err)
		}
		st, err := cl.SetMigrationState(ctx, pos[0], verb)
		if err != nil {
			return fmt.Errorf("migrate %s %s: %w", verb, pos[0], err)
		}
		if c.json() {
			return c.printJSON(st)
		}
		c.printf("%s migration %s\n", done, pos[0])
		return nil
	}
}

func runMigrateRm(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags(), args, 1, 1)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("migrate rm %s: %w", pos[0], err)
	}
	if err := cl.RemoveMigration(ctx, pos[0]); err != nil {
		return fmt.Errorf("migrate rm %s: %w", pos[0], err)
	}
	c.printf("removed migration %s (copied objects stay)\n", pos[0])
	return nil
}

func runMigrateLs(ctx context.Context, c *cli, args []string) error {
	if _, err := c.parse(c.flags(), args, 0, 0); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("migrate ls: %w", err)
	}
	ms, err := cl.ListMigrations(ctx)
	if err != nil {
		return fmt.Errorf("migrate ls: %w", err)
	}
	if c.json() {
		return c.printJSON(map[string]any{"migrations": ms})
	}
	tw := c.table()
	fmt.Fprintln(tw, "NAME\tSTATE\tLISTED\tCOPIED\tSKIPPED\tFAILED\tBYTES\tTO\tFROM")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", m.Name, m.State, m.Listed, m.Copied, m.Skipped, m.Failed,
			formatSize(m.Bytes), m.To, m.From)
	}
	return tw.Flush()
}
