package ufopctl

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/protocol"
)

// Style is a bucket's named pipeline (SPEC §12).
type Style = protocol.Style

// BucketChange changes some settings of a bucket (nil fields keep theirs).
type BucketChange = protocol.BucketChange

func stylePath(bucket, name string) string {
	return bucketPath(bucket) + "/styles/" + url.PathEscape(name)
}

// SetStyle creates or replaces style name of bucket.
func (c *Client) SetStyle(ctx context.Context, bucket, name, fops string) (Style, error) {
	var st Style
	err := c.Do(ctx, http.MethodPut, stylePath(bucket, name), mustJSON(protocol.StyleSet{Fops: fops}), &st)
	return st, err
}

// ListStyles returns the styles of bucket by name.
func (c *Client) ListStyles(ctx context.Context, bucket string) ([]Style, error) {
	var out struct {
		Styles []Style `json:"styles"`
	}
	err := c.Do(ctx, http.MethodGet, bucketPath(bucket)+"/styles", nil, &out)
	return out.Styles, err
}

// DeleteStyle removes style name of bucket.
func (c *Client) DeleteStyle(ctx context.Context, bucket, name string) error {
	return c.Do(ctx, http.MethodDelete, stylePath(bucket, name), nil, nil)
}

// ChangeBucket applies ch to bucket and returns the bucket as stored.
func (c *Client) ChangeBucket(ctx context.Context, bucket string, ch BucketChange) (ufop.Bucket, error) {
	var b ufop.Bucket
	err := c.Do(ctx, http.MethodPatch, bucketPath(bucket), mustJSON(ch), &b)
	return b, err
}

func runBucketSet(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	sep := fs.String("style-sep", "", "characters that join a key and a style name (<key><c><style>); '' turns it off")
	protect := fs.Bool("protect-original", false, "originals and arbitrary fops need a signed URL, styles stay public (=false to undo)")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	var ch BucketChange
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "style-sep":
			ch.StyleSep = sep
		case "protect-original":
			ch.ProtectOriginal = protect
		}
	})
	if ch.StyleSep == nil && ch.ProtectOriginal == nil {
		return usagef("give --style-sep or --protect-original")
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("bucket set %s: %w", pos[0], err)
	}
	b, err := cl.ChangeBucket(ctx, pos[0], ch)
	if err != nil {
		return fmt.Errorf("bucket set %s: %w", pos[0], err)
	}
	if c.json() {
		return c.printJSON(b)
	}
	seps := fmt.Sprintf("%q", b.StyleSep)
	if b.StyleSep == "" {
		seps = "none"
	}
	c.printf("bucket %s: style separators %s, originals protected: %s\n", b.Name, seps, yesNo(b.ProtectOriginal))
	return nil
}

func runStyleSet(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags(), args, 3, 3)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("style set %s %s: %w", pos[0], pos[1], err)
	}
	st, err := cl.SetStyle(ctx, pos[0], pos[1], pos[2])
	if err != nil {
		return fmt.Errorf("style set %s %s: %w", pos[0], pos[1], err)
	}
	if c.json() {
		return c.printJSON(st)
	}
	c.printf("set style %s of %s: %s\n", st.Name, st.Bucket, st.Fops)
	return nil
}

func runStyleLs(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags(), args, 1, 1)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("style ls %s: %w", pos[0], err)
	}
	ss, err := cl.ListStyles(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("style ls %s: %w", pos[0], err)
	}
	if c.json() {
		return c.printJSON(struct {
			Styles []Style `json:"styles"`
		}{nonNil(ss)})
	}
	tw := c.table()
	fmt.Fprintln(tw, "NAME\tFOPS\tUPDATED")
	for _, s := range ss {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.Fops, formatTime(s.Updated))
	}
	return tw.Flush()
}

func runStyleRm(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags(), args, 2, 2)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("style rm %s %s: %w", pos[0], pos[1], err)
	}
	if err := cl.DeleteStyle(ctx, pos[0], pos[1]); err != nil {
		return fmt.Errorf("style rm %s %s: %w", pos[0], pos[1], err)
	}
	c.printf("removed style %s of %s\n", pos[1], pos[0])
	return nil
}
