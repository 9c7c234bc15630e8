package ufopctl

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/auth"
)

func runHelp(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 {
		c.printUsage(c.env.Stdout)
		return nil
	}
	cmd, _, ok := lookup(args)
	if !ok {
		return usagef("no command %q", strings.Join(args, " "))
	}
	c.cmd = cmd
	return cmd.run(ctx, c, []string{"-h"})
}

func runLogin(ctx context.Context, c *cli, args []string) error {
	fset := c.flags()
	ak := fset.String("ak", "", "access key")
	sk := fset.String("sk", "", "secret key")
	endpoint := fset.String("endpoint", "", "gateway base `URL`, like http://127.0.0.1:9000")
	admin := fset.String("admin-endpoint", "", "admin API base `URL` when it has its own listener")
	if _, err := c.parse(fset, args, 0, 0); err != nil {
		return err
	}
	p, err := c.configPath()
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	// Flags override what is saved, so "login --endpoint URL" alone moves
	// to another gateway with the same keys.
	cfg, err := LoadConfig(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("login: %w", err)
	}
	for dst, v := range map[*string]string{&cfg.AK: *ak, &cfg.SK: *sk, &cfg.Endpoint: *endpoint, &cfg.AdminEndpoint: *admin} {
		if v != "" {
			*dst = v
		}
	}
	cfg.Endpoint = strings.TrimRight(cfg.Endpoint, "/")
	cfg.AdminEndpoint = strings.TrimRight(cfg.AdminEndpoint, "/")
	if err := cfg.Validate(); err != nil {
		return usagef("%v", err)
	}
	if err := SaveConfig(p, cfg); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	c.printf("saved credentials for %s (%s) to %s\n", cfg.AK, cfg.Endpoint, p)
	return nil
}

func runWhoami(ctx context.Context, c *cli, args []string) error {
	if _, err := c.parse(c.flags(), args, 0, 0); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("whoami: %w", err)
	}
	u, err := cl.Whoami(ctx)
	if err != nil {
		return fmt.Errorf("whoami: %w", err)
	}
	if c.json() {
		return c.printJSON(u)
	}
	tw := c.table()
	fmt.Fprintf(tw, "user\t%s\ntier\t%s\nadmin\t%s\nkeys\t%s\ncreated\t%s\n",
		u.Name, u.Tier, yesNo(u.Admin), strings.Join(u.Keys, ", "), formatTime(u.Created))
	return tw.Flush()
}

func runBucketCreate(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	var opts BucketOptions
	fs.BoolVar(&opts.Private, "private", false, "downloads need a signed URL (ufopctl sign)")
	fs.StringVar(&opts.Mirror, "mirror", "", "origin `URL` to fetch missing keys from")
	fs.Var((*stringList)(&opts.Referers), "referer", "allowed Referer `host` (repeatable; *.example.com matches subdomains)")
	fs.BoolVar(&opts.AllowEmptyReferer, "allow-empty-referer", false, "with --referer, also allow requests without a Referer")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("bucket create %s: %w", pos[0], err)
	}
	b, err := cl.CreateBucket(ctx, pos[0], opts)
	if err != nil {
		return fmt.Errorf("bucket create %s: %w", pos[0], err)
	}
	if c.json() {
		return c.printJSON(b)
	}
	c.printf("created %s bucket %s\n", access(b.Private), b.Name)
	return nil
}

func runBucketLs(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	lf := listFlags(fs)
	pos, err := c.parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		return listObjects(ctx, c, pos[0], lf)
	}
	if lf.prefix != "" || lf.marker != "" || lf.limit != 0 {
		return usagef("--prefix, --marker and --limit list the objects of a bucket: name the bucket")
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("bucket ls: %w", err)
	}
	buckets, err := cl.ListBuckets(ctx)
	if err != nil {
		return fmt.Errorf("bucket ls: %w", err)
	}
	if c.json() {
		return c.printJSON(struct {
			Buckets []ufop.Bucket `json:"buckets"`
		}{nonNil(buckets)})
	}
	tw := c.table()
	fmt.Fprintln(tw, "NAME\tACCESS\tOWNER\tCREATED")
	for _, b := range buckets {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.Name, access(b.Private), b.Owner, formatTime(b.Created))
	}
	return tw.Flush()
}

type listOpts struct {
	prefix, marker string
	limit          int
}

func listFlags(fs *flag.FlagSet) *listOpts {
	o := &listOpts{}
	fs.StringVar(&o.prefix, "prefix", "", "only keys starting with `P`")
	fs.StringVar(&o.marker, "marker", "", "start after key `M` (the next marker of a previous page)")
	fs.IntVar(&o.limit, "limit", 0, "list one page of at most `N` objects (default: all, page by page)")
	return o
}

func runLs(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	lf := listFlags(fs)
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	return listObjects(ctx, c, pos[0], lf)
}

// listObjects prints one page with --limit, else every page.
func listObjects(ctx context.Context, c *cli, bucket string, o *listOpts) error {
	if o.limit < 0 {
		return usagef("--limit %d: want a positive number", o.limit)
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("ls %s: %w", bucket, err)
	}
	var all []ufop.Object
	marker, next := o.marker, ""
	for {
		objs, n, err := cl.ListObjects(ctx, bucket, o.prefix, marker, o.limit)
		if err != nil {
			return fmt.Errorf("ls %s: %w", bucket, err)
		}
		all, next = append(all, objs...), n
		if o.limit > 0 || next == "" || next == marker {
			break
		}
		marker = next
	}
	if c.json() {
		return c.printJSON(struct {
			Objects []ufop.Object `json:"objects"`
			Next    string        `json:"next"`
		}{nonNil(all), next})
	}
	tw := c.table()
	fmt.Fprintln(tw, "SIZE\tMODIFIED\tTYPE\tKEY")
	for _, o := range all {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", o.Size, formatTime(o.Modified), o.ContentType, printableKey(o.Key))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if next != "" {
		fmt.Fprintf(c.env.Stderr, "more objects: continue with --marker %s\n", strconv.Quote(next))
	}
	return nil
}

func runBucketRm(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	force := fs.Bool("force", false, "delete the bucket's objects too, then the bucket")
	pos, err := c.parse(fs, args, 1, 2)
	if err != nil {
		return err
	}
	if len(pos) == 2 {
		if *force {
			return usagef("--force deletes a whole bucket: name only the bucket")
		}
		return removeObject(ctx, c, pos[0], pos[1])
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("bucket rm %s: %w", pos[0], err)
	}
	if err := cl.DeleteBucket(ctx, pos[0], *force); err != nil {
		var api *APIError
		if errors.As(err, &api) && api.Code == http.StatusConflict && !*force {
			return fmt.Errorf("bucket rm %s: %w; use --force to delete its objects too", pos[0], err)
		}
		return fmt.Errorf("bucket rm %s: %w", pos[0], err)
	}
	c.printf("deleted bucket %s\n", pos[0])
	return nil
}

func runRm(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags(), args, 2, 2)
	if err != nil {
		return err
	}
	return removeObject(ctx, c, pos[0], pos[1])
}

func removeObject(ctx context.Context, c *cli, bucket, key string) error {
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("rm %s/%s: %w", bucket, key, err)
	}
	if err := cl.DeleteObject(ctx, bucket, key); err != nil {
		return fmt.Errorf("rm %s/%s: %w", bucket, key, err)
	}
	c.printf("deleted %s/%s\n", bucket, key)
	return nil
}

func runPut(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	ctype := fs.String("content-type", "", "content `type` (default: from the key's extension, else sniffed by the server)")
	pos, err := c.parse(fs, args, 3, 3)
	if err != nil {
		return err
	}
	bucket, key, file := pos[0], pos[1], pos[2]
	fail := func(err error) error { return fmt.Errorf("put %s/%s: %w", bucket, key, err) }
	cl, err := c.client()
	if err != nil {
		return fail(err)
	}
	var body io.ReadSeeker
	if file == "-" {
		// The body hash is signed before sending, so stdin is read first.
		b, err := io.ReadAll(c.env.Stdin)
		if err != nil {
			return fail(fmt.Errorf("read stdin: %w", err))
		}
		body = bytes.NewReader(b)
	} else {
		f, err := os.Open(file)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			return fail(fmt.Errorf("%s is a directory", file))
		}
		body = f
	}
	if *ctype == "" {
		*ctype = mime.TypeByExtension(path.Ext(key))
	}
	p := newProgress(c.env.Stderr, "upload "+bucket+"/"+key)
	obj, err := cl.PutObject(ctx, bucket, key, body, *ctype, p.update)
	if err != nil {
		p.abort()
		return fail(err)
	}
	p.finish()
	if c.json() {
		return c.printJSON(obj)
	}
	c.printf("%s/%s\t%d bytes\t%s\t%s\n", obj.Bucket, obj.Key, obj.Size, obj.ContentType, obj.ETag)
	return nil
}

func runGet(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags(), args, 2, 3)
	if err != nil {
		return err
	}
	bucket, key := pos[0], pos[1]
	fail := func(err error) error { return fmt.Errorf("get %s/%s: %w", bucket, key, err) }
	dst := path.Base(key)
	if len(pos) == 3 {
		dst = pos[2]
	} else if dst == "." || dst == "/" || dst == ".." || strings.HasSuffix(key, "/") {
		return usagef("key %q has no file name: give one, or - for stdout", key)
	}
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		dst = filepath.Join(dst, path.Base(key))
	}
	cl, err := c.client()
	if err != nil {
		return fail(err)
	}
	body, obj, err := cl.GetObject(ctx, bucket, key)
	if err != nil {
		return fail(err)
	}
	defer body.Close()
	if dst == "-" {
		if _, err := io.Copy(c.env.Stdout, body); err != nil {
			return fail(err)
		}
		return nil
	}
	n, err := writeFileAtomic(dst, body)
	if err != nil {
		return fail(err)
	}
	if c.json() {
		return c.printJSON(obj)
	}
	c.printf("saved %s/%s to %s (%s)\n", bucket, key, dst, formatSize(n))
	return nil
}

// writeFileAtomic writes r to path through a temp file, so a failed or
// corrupt download never replaces (or masquerades as) the file.
func writeFileAtomic(dst string, r io.Reader) (int64, error) {
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.part")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	n, err := io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return n, err
	}
	return n, os.Rename(f.Name(), dst)
}

func runUserAdd(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	tier := fs.String("tier", string(ufop.TierFree), "service `tier`: free or paid")
	admin := fs.Bool("admin", false, "make the user an administrator")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if t := ufop.Tier(*tier); t != ufop.TierFree && t != ufop.TierPaid {
		return usagef("--tier %q: want free or paid", *tier)
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("user add %s: %w", pos[0], err)
	}
	u, err := cl.AddUser(ctx, pos[0], ufop.Tier(*tier), *admin)
	if err != nil {
		return fmt.Errorf("user add %s: %w", pos[0], err)
	}
	if c.json() {
		return c.printJSON(u)
	}
	tw := c.table()
	fmt.Fprintf(tw, "user\t%s\ntier\t%s\nadmin\t%s\nak\t%s\nsk\t%s\n", u.Name, u.Tier, yesNo(u.Admin), u.AK, u.SK)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(c.env.Stderr, "The secret key is shown only once: store it now.")
	return nil
}

func runUserLs(ctx context.Context, c *cli, args []string) error {
	if _, err := c.parse(c.flags(), args, 0, 0); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("user ls: %w", err)
	}
	users, err := cl.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("user ls: %w", err)
	}
	if c.json() {
		return c.printJSON(struct {
			Users []ufop.User `json:"users"`
		}{nonNil(users)})
	}
	tw := c.table()
	fmt.Fprintln(tw, "NAME\tTIER\tADMIN\tKEYS\tCREATED")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.Tier, yesNo(u.Admin), strings.Join(u.Keys, ","), formatTime(u.Created))
	}
	return tw.Flush()
}

func runUserRm(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags(), args, 1, 1)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("user rm %s: %w", pos[0], err)
	}
	if err := cl.RemoveUser(ctx, pos[0]); err != nil {
		return fmt.Errorf("user rm %s: %w", pos[0], err)
	}
	c.printf("removed user %s\n", pos[0])
	return nil
}

func runSign(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	expires := fs.Duration("expires", time.Hour, "how long the URL stays valid")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *expires <= 0 {
		return usagef("--expires %s: want a positive duration like 1h or 30m", *expires)
	}
	cfg, err := c.loadConfig()
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	raw := pos[0]
	if !strings.Contains(raw, "://") {
		// "bucket/key?fop" is relative to the configured gateway.
		raw = cfg.Endpoint + "/" + strings.TrimLeft(raw, "/")
	}
	at := time.Now().Add(*expires).Truncate(time.Second)
	signed, err := auth.SignURL(raw, cfg.AK, cfg.SK, at)
	if err != nil {
		// auth's messages already start with "sign:".
		return fmt.Errorf("sign: %s", strings.TrimPrefix(ufop.Message(err), "sign: "))
	}
	if c.json() {
		return c.printJSON(struct {
			URL     string    `json:"url"`
			Expires time.Time `json:"expires"`
		}{signed, at.UTC()})
	}
	fmt.Fprintln(c.env.Stdout, signed)
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func access(private bool) string {
	if private {
		return "private"
	}
	return "public"
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// printableKey quotes keys that would break a table line.
func printableKey(k string) string {
	for _, r := range k {
		if r < ' ' || r == 0x7f {
			return strconv.Quote(k)
		}
	}
	return k
}

// nonNil makes empty lists print as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// progress shows an upload's progress on stderr: one line updated in
// place on a terminal, only the final line otherwise (logs stay clean).
type progress struct {
	w           io.Writer
	tty         bool
	label       string
	start, last time.Time
	done, total int64
	drawn       bool
}

func newProgress(w io.Writer, label string) *progress {
	return &progress{w: w, tty: isTerminal(w), label: label, start: time.Now()}
}

func (p *progress) update(done, total int64) {
	p.done, p.total = done, total
	if !p.tty || (time.Since(p.last) < 100*time.Millisecond && done != total) {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "\r%s: %3d%% (%s / %s)\x1b[K", p.label, percent(done, total), formatSize(done), formatSize(total))
	p.drawn = true
}

func (p *progress) finish() {
	elapsed := time.Since(p.start)
	line := fmt.Sprintf("%s: 100%% (%s in %s)", p.label, formatSize(p.total), elapsed.Round(time.Millisecond))
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\x1b[K\n", line)
		return
	}
	fmt.Fprintln(p.w, line)
}

// abort ends a drawn progress line so the error starts on its own line.
func (p *progress) abort() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

func percent(done, total int64) int64 {
	if total <= 0 {
		return 100
	}
	return done * 100 / total
}
