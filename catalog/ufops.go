package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/protocol"
)

const (
	tUFOPs    = protocol.TableUFOPs
	tVersions = protocol.TableVersions
)

// RegisterUFOP records a new UFOP. The caller checks the name against the
// built-in fops.
func (c *Catalog) RegisterUFOP(ctx context.Context, u ufop.UFOP) (ufop.UFOP, error) {
	if !ufop.ValidUFOPName(u.Name) {
		return u, ufop.Errorf(ufop.KindInvalid, "UFOP name %q: use 5-20 characters of a-z, 0-9, _ and -", u.Name)
	}
	if u.Mode < ufop.ModePublic || u.Mode > ufop.ModePrivate {
		return u, ufop.Errorf(ufop.KindInvalid, "UFOP mode %d: use 0 (public), 1 (protected) or 2 (private)", u.Mode)
	}
	u.Created = time.Now().UTC().Truncate(time.Second)
	v, err := jsonBytes(u)
	if err != nil {
		return u, err
	}
	k := c.key(tUFOPs, u.Name)
	rev, err := c.create(ctx, []clientv3.Op{clientv3.OpPut(k, string(v))}, k)
	if err == errExists {
		return u, ufop.Errorf(ufop.KindConflict, "UFOP %q is registered already", u.Name)
	}
	if err != nil {
		return u, err
	}
	c.apply(k, v, rev)
	return u, nil
}

// UFOP returns a registered UFOP.
func (c *Catalog) UFOP(name string) (ufop.UFOP, error) {
	var u ufop.UFOP
	ok, err := c.get(tUFOPs, name, &u)
	if err != nil {
		return u, err
	}
	if !ok {
		return u, ufop.Errorf(ufop.KindNotFound, "no such UFOP %q", name)
	}
	return u, nil
}

// UFOPs lists UFOPs by name; owner "" lists all.
func (c *Catalog) UFOPs(owner string) []ufop.UFOP {
	us := scan[ufop.UFOP](c, tUFOPs)
	us = slices.DeleteFunc(us, func(u ufop.UFOP) bool { return owner != "" && u.Owner != owner })
	slices.SortFunc(us, func(a, b ufop.UFOP) int { return strings.Compare(a.Name, b.Name) })
	return us
}

// UpdateUFOP applies fn to the stored UFOP atomically (compare-and-swap,
// retried on a concurrent change) and returns the result.
func (c *Catalog) UpdateUFOP(ctx context.Context, name string, fn func(*ufop.UFOP) error) (ufop.UFOP, error) {
	k := c.key(tUFOPs, name)
	for {
		resp, err := c.cli.Get(ctx, k)
		if err != nil {
			return ufop.UFOP{}, fmt.Errorf("catalog: get %s: %w", k, err)
		}
		if len(resp.Kvs) == 0 {
			return ufop.UFOP{}, ufop.Errorf(ufop.KindNotFound, "no such UFOP %q", name)
		}
		var u ufop.UFOP
		if err := json.Unmarshal(resp.Kvs[0].Value, &u); err != nil {
			return u, fmt.Errorf("catalog: decode %s: %w", k, err)
		}
		if err := fn(&u); err != nil {
			return u, err
		}
		v, err := jsonBytes(u)
		if err != nil {
			return u, err
		}
		tx, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", resp.Kvs[0].ModRevision)).
			Then(clientv3.OpPut(k, string(v))).Commit()
		if err != nil {
			return u, fmt.Errorf("catalog: update %s: %w", k, err)
		}
		if tx.Succeeded {
			c.apply(k, v, tx.Header.Revision)
			return u, nil
		}
	}
}

// DeleteUFOP removes a UFOP and its version records.
func (c *Catalog) DeleteUFOP(ctx context.Context, name string) error {
	k := c.key(tUFOPs, name)
	vp := c.key(tVersions, name+"/")
	if _, err := c.cli.Txn(ctx).Then(clientv3.OpDelete(k), clientv3.OpDelete(vp, clientv3.WithPrefix())).Commit(); err != nil {
		return fmt.Errorf("catalog: delete UFOP %s: %w", name, err)
	}
	c.apply(k, nil, 0)
	for _, v := range c.Versions(name) {
		c.apply(c.versionKey(name, v.N), nil, 0)
	}
	return nil
}

func (c *Catalog) versionKey(name string, n int) string {
	return c.key(tVersions, fmt.Sprintf("%s/%08d", name, n))
}

// NewVersion allocates the next version number of a UFOP and records it
// as building.
func (c *Catalog) NewVersion(ctx context.Context, name string) (ufop.Version, error) {
	if _, err := c.UFOP(name); err != nil {
		return ufop.Version{}, err
	}
	for {
		resp, err := c.cli.Get(ctx, c.key(tVersions, name+"/"), clientv3.WithPrefix(), clientv3.WithKeysOnly(),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(1))
		if err != nil {
			return ufop.Version{}, fmt.Errorf("catalog: versions of %s: %w", name, err)
		}
		n := 1
		if len(resp.Kvs) == 1 {
			var last int
			fmt.Sscanf(string(resp.Kvs[0].Key[strings.LastIndexByte(string(resp.Kvs[0].Key), '/')+1:]), "%d", &last)
			n = last + 1
		}
		v := ufop.Version{UFOP: name, N: n, State: ufop.BuildRunning, Created: time.Now().UTC()}
		b, err := jsonBytes(v)
		if err != nil {
			return v, err
		}
		k := c.versionKey(name, n)
		rev, err := c.create(ctx, []clientv3.Op{clientv3.OpPut(k, string(b))}, k)
		if err == errExists {
			continue // another build took n
		}
		if err != nil {
			return v, err
		}
		c.apply(k, b, rev)
		return v, nil
	}
}

// PutVersion records a version's new state.
func (c *Catalog) PutVersion(ctx context.Context, v ufop.Version) error {
	return c.put(ctx, c.versionKey(v.UFOP, v.N), v)
}

// Version returns one version of a UFOP.
func (c *Catalog) Version(name string, n int) (ufop.Version, error) {
	var v ufop.Version
	ok, err := c.get(tVersions, fmt.Sprintf("%s/%08d", name, n), &v)
	if err != nil {
		return v, err
	}
	if !ok {
		return v, ufop.Errorf(ufop.KindNotFound, "UFOP %q has no version %d", name, n)
	}
	return v, nil
}

// Versions lists a UFOP's versions, oldest first.
func (c *Catalog) Versions(name string) []ufop.Version {
	vs := scan[ufop.Version](c, tVersions+name+"/")
	slices.SortFunc(vs, func(a, b ufop.Version) int { return a.N - b.N })
	return vs
}
