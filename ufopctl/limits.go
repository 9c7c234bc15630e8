package ufopctl

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/protocol"
)

// Limit is one limit row an admin set: user-wide when Cmd is empty, else
// for one command. Zero fields are unset (the tier default applies).
type Limit struct {
	User        string    `json:"user"`
	Cmd         string    `json:"cmd,omitempty"`
	RPS         float64   `json:"rps,omitempty"`
	Burst       int       `json:"burst,omitempty"`
	Concurrency int       `json:"concurrency,omitempty"`
	Updated     time.Time `json:"updated"`
}

// TierLimits are the defaults of a tier; zero is no limit.
type TierLimits = protocol.TierLimits

// Limits is the answer of GET /v1/limits.
type Limits struct {
	Limits   []Limit                  `json:"limits"`
	Defaults map[ufop.Tier]TierLimits `json:"defaults,omitempty"`
}

// LimitChange changes some fields of a limit (nil fields keep theirs).
type LimitChange = protocol.LimitChange

// NewKey is a new key pair of a user.
type NewKey = protocol.NewKey

func limitPath(user string) string { return "/v1/limits/" + url.PathEscape(user) }

// SetLimit changes user's limits (admins only) and returns the stored row.
func (c *Client) SetLimit(ctx context.Context, user string, ch LimitChange) (Limit, error) {
	var l Limit
	err := c.Do(ctx, http.MethodPut, limitPath(user), mustJSON(ch), &l)
	return l, err
}

// ListLimits returns every limit row and the tier defaults (admins only);
// with a user, that user's rows and tier default (admins, or the user).
func (c *Client) ListLimits(ctx context.Context, user string) (Limits, error) {
	path := "/v1/limits"
	if user != "" {
		path = limitPath(user)
	}
	var out Limits
	err := c.Do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// DeleteLimits removes user's limit for cmd, or all of user's limits with
// cmd "" (admins only).
func (c *Client) DeleteLimits(ctx context.Context, user, cmd string) error {
	path := limitPath(user)
	if cmd != "" {
		path += "?cmd=" + url.QueryEscape(cmd)
	}
	return c.Do(ctx, http.MethodDelete, path, nil, nil)
}

// AddKey makes a new key pair for user (admins, or the user itself); a
// user holds at most two.
func (c *Client) AddKey(ctx context.Context, user string) (NewKey, error) {
	var k NewKey
	err := c.Do(ctx, http.MethodPost, "/v1/users/"+url.PathEscape(user)+"/keys", nil, &k)
	return k, err
}

// RemoveKey revokes one of user's keys; the last one cannot be removed.
func (c *Client) RemoveKey(ctx context.Context, user, ak string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/users/"+url.PathEscape(user)+"/keys/"+url.PathEscape(ak), nil, nil)
}

func runLimitSet(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	rps := fs.Float64("rps", 0, "`R` requests per second, cluster-wide (0: the tier default)")
	burst := fs.Int("burst", 0, "`N` requests allowed at once above the rate (0: one second's worth)")
	conc := fs.Int("concurrency", 0, "`N` requests in flight at once (0: the tier default); not with --cmd")
	cmd := fs.String("cmd", "", "limit only this command (a fop or UFOP `name`): every pipeline step counts")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	ch := LimitChange{Cmd: *cmd}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "rps":
			ch.RPS = rps
		case "burst":
			ch.Burst = burst
		case "concurrency":
			ch.Concurrency = conc
		}
	})
	if ch.RPS == nil && ch.Burst == nil && ch.Concurrency == nil {
		return usagef("give at least one of --rps, --burst, --concurrency")
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("limit set %s: %w", pos[0], err)
	}
	l, err := cl.SetLimit(ctx, pos[0], ch)
	if err != nil {
		return fmt.Errorf("limit set %s: %w", pos[0], err)
	}
	if c.json() {
		return c.printJSON(l)
	}
	what := "limits of " + pos[0]
	if l.Cmd != "" {
		what += " for " + l.Cmd
	}
	c.printf("%s: rps %s, burst %s, concurrency %s\n", what, orDefault(l.RPS), orDefault(float64(l.Burst)), orDefault(float64(l.Concurrency)))
	return nil
}

func orDefault(v float64) string {
	if v == 0 {
		return "default"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func runLimitLs(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags(), args, 0, 1)
	if err != nil {
		return err
	}
	user := ""
	if len(pos) == 1 {
		user = pos[0]
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("limit ls: %w", err)
	}
	ls, err := cl.ListLimits(ctx, user)
	if err != nil {
		return fmt.Errorf("limit ls: %w", err)
	}
	if ls.Limits == nil {
		ls.Limits = []Limit{}
	}
	if c.json() {
		return c.printJSON(ls)
	}
	tw := c.table()
	fmt.Fprintln(tw, "USER\tCMD\tRPS\tBURST\tCONCURRENCY\tUPDATED")
	for _, l := range ls.Limits {
		cmd := l.Cmd
		if cmd == "" {
			cmd = "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", l.User, cmd, orDefault(l.RPS), orDefault(float64(l.Burst)),
			orDefault(float64(l.Concurrency)), formatTime(l.Updated))
	}
	tiers := make([]ufop.Tier, 0, len(ls.Defaults))
	for t := range ls.Defaults {
		tiers = append(tiers, t)
	}
	slices.Sort(tiers)
	for _, t := range tiers {
		d := ls.Defaults[t]
		fmt.Fprintf(tw, "(tier %s)\t*\t%s\t%s\t%s\t-\n", t, unlimited(d.RPS), unlimited(float64(d.Burst)), unlimited(float64(d.Concurrency)))
		cmds := make([]string, 0, len(d.Commands))
		for cmd := range d.Commands {
			cmds = append(cmds, cmd)
		}
		slices.Sort(cmds)
		for _, cmd := range cmds {
			fmt.Fprintf(tw, "(tier %s)\t%s\t%s\t-\t-\t-\n", t, cmd, unlimited(d.Commands[cmd]))
		}
	}
	return tw.Flush()
}

func unlimited(v float64) string {
	if v == 0 {
		return "unlimited"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func runLimitRm(ctx context.Context, c *cli, args []string) error {
	fs := c.flags()
	cmd := fs.String("cmd", "", "remove only the limit of this command")
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("limit rm %s: %w", pos[0], err)
	}
	if err := cl.DeleteLimits(ctx, pos[0], *cmd); err != nil {
		return fmt.Errorf("limit rm %s: %w", pos[0], err)
	}
	if *cmd != "" {
		c.printf("removed the %s limit of %s\n", *cmd, pos[0])
	} else {
		c.printf("removed the limits of %s: tier defaults apply\n", pos[0])
	}
	return nil
}

func runUserKeyAdd(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags(), args, 1, 1)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("user key add %s: %w", pos[0], err)
	}
	k, err := cl.AddKey(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("user key add %s: %w", pos[0], err)
	}
	if c.json() {
		return c.printJSON(k)
	}
	tw := c.table()
	fmt.Fprintf(tw, "user\t%s\nak\t%s\nsk\t%s\n", k.User, k.AK, k.SK)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(c.env.Stderr, "The secret key is shown only once: store it now, then remove the old key with ufopctl user key rm.")
	return nil
}

func runUserKeyRm(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags(), args, 2, 2)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("user key rm %s %s: %w", pos[0], pos[1], err)
	}
	if err := cl.RemoveKey(ctx, pos[0], pos[1]); err != nil {
		return fmt.Errorf("user key rm %s %s: %w", pos[0], pos[1], err)
	}
	c.printf("removed key %s of user %s\n", pos[1], pos[0])
	return nil
}
