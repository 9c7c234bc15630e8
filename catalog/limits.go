package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/protocol"
)

const tLimits = protocol.TableLimits

// Limit is an admin-set limit row for a user: user-wide when Cmd is
// empty, else for one command (a built-in fop or UFOP name). A zero field
// is unset: the gateway's tier default applies. Limits are cluster-wide;
// each gateway enforces its share.
type Limit struct {
	User string `json:"user"`
	Cmd  string `json:"cmd,omitempty"`
	// RPS is requests per second, Burst how many may come at once above
	// the steady rate.
	RPS   float64 `json:"rps,omitempty"`
	Burst int     `json:"burst,omitempty"`
	// Concurrency bounds the user's requests in flight (user-wide only).
	Concurrency int       `json:"concurrency,omitempty"`
	Updated     time.Time `json:"updated"`
}

// LimitChange is a partial update of a Limit: nil fields keep their
// stored value, a zero value unsets the field.
type LimitChange struct {
	RPS         *float64
	Burst       *int
	Concurrency *int
}

// Validate reports a change that cannot be stored.
func (ch LimitChange) Validate(cmd string) error {
	switch {
	case ch.RPS != nil && (*ch.RPS < 0 || math.IsNaN(*ch.RPS) || math.IsInf(*ch.RPS, 0)):
		return ufop.Errorf(ufop.KindInvalid, "limit: rps %v: use a number of requests per second, 0 for the tier default", *ch.RPS)
	case ch.Burst != nil && *ch.Burst < 0:
		return ufop.Errorf(ufop.KindInvalid, "limit: burst %d: use a count of requests, 0 for the default", *ch.Burst)
	case ch.Concurrency != nil && *ch.Concurrency < 0:
		return ufop.Errorf(ufop.KindInvalid, "limit: concurrency %d: use a count of requests, 0 for the tier default", *ch.Concurrency)
	case ch.Concurrency != nil && *ch.Concurrency != 0 && cmd != "":
		return ufop.Errorf(ufop.KindInvalid, "limit: concurrency applies to a user as a whole, not to command %q", cmd)
	case ch.RPS == nil && ch.Burst == nil && ch.Concurrency == nil:
		return ufop.Errorf(ufop.KindInvalid, "limit: give at least one of rps, burst or concurrency")
	}
	return nil
}

func (c *Catalog) limitKey(user, cmd string) string {
	if cmd == "" {
		return c.key(tLimits, user)
	}
	return c.key(tLimits, user+"/"+cmd)
}

// SetLimit applies ch to the limit row of user (and cmd, "" for the
// user-wide row) atomically and returns the stored row. A row whose
// fields are all unset is removed. The caller checks that cmd names a
// command.
func (c *Catalog) SetLimit(ctx context.Context, user, cmd string, ch LimitChange) (Limit, error) {
	if err := ValidateUserName(user); err != nil {
		return Limit{}, err
	}
	if err := c.userExists(ctx, user); err != nil {
		return Limit{}, err
	}
	if strings.Contains(cmd, "/") {
		return Limit{}, ufop.Errorf(ufop.KindInvalid, "limit: cmd %q: use a fop or UFOP name", cmd)
	}
	if err := ch.Validate(cmd); err != nil {
		return Limit{}, err
	}
	k := c.limitKey(user, cmd)
	for {
		resp, err := c.cli.Get(ctx, k)
		if err != nil {
			return Limit{}, fmt.Errorf("catalog: get %s: %w", k, err)
		}
		l := Limit{User: user, Cmd: cmd}
		var rev int64
		if len(resp.Kvs) == 1 {
			if err := json.Unmarshal(resp.Kvs[0].Value, &l); err != nil {
				return Limit{}, fmt.Errorf("catalog: decode %s: %w", k, err)
			}
			rev = resp.Kvs[0].ModRevision
		}
		if ch.RPS != nil {
			l.RPS = *ch.RPS
		}
		if ch.Burst != nil {
			l.Burst = *ch.Burst
		}
		if ch.Concurrency != nil {
			l.Concurrency = *ch.Concurrency
		}
		l.Updated = time.Now().UTC().Truncate(time.Second)
		var op clientv3.Op
		var v []byte
		if l.RPS == 0 && l.Burst == 0 && l.Concurrency == 0 {
			op = clientv3.OpDelete(k)
		} else {
			if v, err = jsonBytes(l); err != nil {
				return Limit{}, err
			}
			op = clientv3.OpPut(k, string(v))
		}
		tx, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", rev)).Then(op).Commit()
		if err != nil {
			return Limit{}, fmt.Errorf("catalog: set limit %s: %w", k, err)
		}
		if tx.Succeeded {
			c.apply(k, v, tx.Header.Revision)
			return l, nil
		}
	}
}

// Limit returns the stored limit row of user and cmd ("" for user-wide);
// ok is false when there is none.
func (c *Catalog) Limit(user, cmd string) (Limit, bool) {
	var l Limit
	name := user
	if cmd != "" {
		name += "/" + cmd
	}
	ok, err := c.get(tLimits, name, &l)
	if err != nil {
		c.logger.Warn("bad limit row", "user", user, "cmd", cmd, "err", err)
		return Limit{}, false
	}
	return l, ok
}

// Limits lists the stored limit rows by user, user-wide row first; user
// "" lists all.
func (c *Catalog) Limits(user string) []Limit {
	ls := scan[Limit](c, tLimits)
	ls = slices.DeleteFunc(ls, func(l Limit) bool { return user != "" && l.User != user })
	slices.SortFunc(ls, func(a, b Limit) int {
		if a.User != b.User {
			return strings.Compare(a.User, b.User)
		}
		return strings.Compare(a.Cmd, b.Cmd)
	})
	return ls
}

// DeleteLimits removes user's limit row for cmd, or with cmd "" every row
// of the user; the tier defaults apply again. It reports not found when
// there was nothing to remove.
func (c *Catalog) DeleteLimits(ctx context.Context, user, cmd string) error {
	ops := []clientv3.Op{clientv3.OpDelete(c.limitKey(user, cmd))}
	if cmd == "" {
		// The user's command rows too; the trailing "/" keeps the rows of
		// users whose name merely starts with user.
		ops = append(ops, clientv3.OpDelete(c.limitKey(user, "")+"/", clientv3.WithPrefix()))
	}
	gone := c.Limits(user)
	tx, err := c.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("catalog: delete limits of %s: %w", user, err)
	}
	var n int64
	for _, r := range tx.Responses {
		n += r.GetResponseDeleteRange().Deleted
	}
	for _, l := range gone {
		if cmd == "" || l.Cmd == cmd {
			c.apply(c.limitKey(l.User, l.Cmd), nil, 0)
		}
	}
	if n == 0 {
		if cmd == "" {
			return ufop.Errorf(ufop.KindNotFound, "user %q has no limits set", user)
		}
		return ufop.Errorf(ufop.KindNotFound, "user %q has no limit for %q", user, cmd)
	}
	return nil
}
