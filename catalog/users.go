package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop"
)

// Key is an access key pair. SK is shown once, when the key is made.
type Key struct {
	AK string `json:"ak"`
	SK string `json:"sk"`
}

// keyRow is what etcd holds for one access key.
type keyRow struct {
	AK      string    `json:"ak"`
	User    string    `json:"user"`
	Sealed  []byte    `json:"sealed"` // the SK, sealed with the master key
	Created time.Time `json:"created"`
}

// MaxKeys is how many keys a user may hold at once: two, so a key can be
// rotated without downtime.
const MaxKeys = 2

var userName = regexp.MustCompile(`^[a-z][a-z0-9_-]{1,31}$`)

// ValidateUserName reports a malformed user name.
func ValidateUserName(name string) error {
	if !userName.MatchString(name) {
		return ufop.Errorf(ufop.KindInvalid, "user name %q: use 2-32 characters of a-z, 0-9, _ and -, starting with a letter", name)
	}
	return nil
}

func newKey() Key {
	return Key{AK: "AK" + strings.ToUpper(randomHex(10)), SK: randomHex(20)}
}

// CreateUser makes a user with one key pair.
func (c *Catalog) CreateUser(ctx context.Context, name string, tier ufop.Tier, admin bool) (ufop.User, Key, error) {
	if err := ValidateUserName(name); err != nil {
		return ufop.User{}, Key{}, err
	}
	if tier == "" {
		tier = ufop.TierFree
	}
	if tier != ufop.TierFree && tier != ufop.TierPaid {
		return ufop.User{}, Key{}, ufop.Errorf(ufop.KindInvalid, "tier %q: use free or paid", tier)
	}
	k := newKey()
	u := ufop.User{Name: name, Tier: tier, Admin: admin, Keys: []string{k.AK}, Created: time.Now().UTC().Truncate(time.Second)}
	ub, kb, err := c.rows2(u, k)
	if err != nil {
		return ufop.User{}, Key{}, err
	}
	uk, kk := c.key(tUsers, name), c.key(tKeys, k.AK)
	rev, err := c.create(ctx, []clientv3.Op{clientv3.OpPut(uk, string(ub)), clientv3.OpPut(kk, string(kb))}, uk)
	if err == errExists {
		return ufop.User{}, Key{}, ufop.Errorf(ufop.KindConflict, "user %q exists already", name)
	}
	if err != nil {
		return ufop.User{}, Key{}, err
	}
	c.apply(uk, ub, rev)
	c.apply(kk, kb, rev)
	return u, k, nil
}

func (c *Catalog) rows2(u ufop.User, k Key) ([]byte, []byte, error) {
	ub, err := jsonBytes(u)
	if err != nil {
		return nil, nil, err
	}
	kb, err := jsonBytes(keyRow{AK: k.AK, User: u.Name, Sealed: c.seal.Seal([]byte(k.SK), []byte(k.AK)), Created: u.Created})
	return ub, kb, err
}

// User returns a user.
func (c *Catalog) User(name string) (ufop.User, error) {
	var u ufop.User
	ok, err := c.get(tUsers, name, &u)
	if err != nil {
		return u, err
	}
	if !ok {
		return u, ufop.Errorf(ufop.KindNotFound, "no such user %q", name)
	}
	return u, nil
}

// userExists checks a user in etcd itself when the in-memory copy does not
// have it yet: a write through this process may follow, at once, the
// user's creation through another one.
func (c *Catalog) userExists(ctx context.Context, name string) error {
	if _, err := c.User(name); err == nil {
		return nil
	}
	resp, err := c.cli.Get(ctx, c.key(tUsers, name), clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("catalog: user %s: %w", name, err)
	}
	if resp.Count == 0 {
		return ufop.Errorf(ufop.KindNotFound, "no such user %q", name)
	}
	return nil
}

// Users lists the users by name.
func (c *Catalog) Users() []ufop.User {
	us := scan[ufop.User](c, tUsers)
	slices.SortFunc(us, func(a, b ufop.User) int { return strings.Compare(a.Name, b.Name) })
	return us
}

// DeleteUser removes a user and its keys. Its buckets stay, owned by a
// name nobody holds, until an admin removes them.
func (c *Catalog) DeleteUser(ctx context.Context, name string) error {
	u, err := c.User(name)
	if err != nil {
		return err
	}
	ops := []clientv3.Op{clientv3.OpDelete(c.key(tUsers, name)), clientv3.OpDelete(c.limitKey(name, "")),
		clientv3.OpDelete(c.limitKey(name, "")+"/", clientv3.WithPrefix())}
	for _, ak := range u.Keys {
		ops = append(ops, clientv3.OpDelete(c.key(tKeys, ak)))
	}
	if _, err := c.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
		return fmt.Errorf("catalog: delete user %s: %w", name, err)
	}
	c.apply(c.key(tUsers, name), nil, 0)
	for _, ak := range u.Keys {
		c.apply(c.key(tKeys, ak), nil, 0)
	}
	return nil
}

// LookupKey returns the user holding access key ak and its secret.
func (c *Catalog) LookupKey(ak string) (ufop.User, string, error) {
	var kr keyRow
	ok, err := c.get(tKeys, ak, &kr)
	if err != nil {
		return ufop.User{}, "", err
	}
	if !ok {
		return ufop.User{}, "", ufop.Errorf(ufop.KindUnauthenticated, "unknown access key")
	}
	u, err := c.User(kr.User)
	if err != nil {
		return ufop.User{}, "", ufop.Errorf(ufop.KindUnauthenticated, "unknown access key")
	}
	sk, err := c.seal.Open(kr.Sealed, []byte(ak))
	if err != nil {
		return ufop.User{}, "", err
	}
	return u, string(sk), nil
}

// AddKey gives user a new key pair, for rotation: a user holds at most
// MaxKeys, so the old key keeps working until it is removed.
func (c *Catalog) AddKey(ctx context.Context, name string) (Key, error) {
	var k Key
	err := c.updateUser(ctx, name, func(u *ufop.User) (map[string][]byte, error) {
		if len(u.Keys) >= MaxKeys {
			return nil, ufop.Errorf(ufop.KindConflict, "user %q holds %d keys already: remove one first (ufopctl user key rm)", name, len(u.Keys))
		}
		k = newKey()
		u.Keys = append([]string{k.AK}, u.Keys...)
		_, kb, err := c.rows2(*u, k)
		if err != nil {
			return nil, err
		}
		return map[string][]byte{c.key(tKeys, k.AK): kb}, nil
	})
	if err != nil {
		return Key{}, err
	}
	return k, nil
}

// RemoveKey revokes one of user's keys; the last key cannot be removed,
// so that nobody locks an account out by mistake.
func (c *Catalog) RemoveKey(ctx context.Context, name, ak string) error {
	return c.updateUser(ctx, name, func(u *ufop.User) (map[string][]byte, error) {
		if !slices.Contains(u.Keys, ak) {
			return nil, ufop.Errorf(ufop.KindNotFound, "user %q has no access key %q", name, ak)
		}
		if len(u.Keys) == 1 {
			return nil, ufop.Errorf(ufop.KindConflict, "%q is the last key of user %q: add a new key first (ufopctl user key add)", ak, name)
		}
		u.Keys = slices.DeleteFunc(u.Keys, func(s string) bool { return s == ak })
		return map[string][]byte{c.key(tKeys, ak): nil}, nil
	})
}

// updateUser applies fn to the stored user row with compare-and-swap,
// retrying on a concurrent change. fn also returns other rows to write in
// the same transaction (nil value: delete).
func (c *Catalog) updateUser(ctx context.Context, name string, fn func(*ufop.User) (map[string][]byte, error)) error {
	if err := ValidateUserName(name); err != nil {
		return err
	}
	uk := c.key(tUsers, name)
	for {
		resp, err := c.cli.Get(ctx, uk)
		if err != nil {
			return fmt.Errorf("catalog: get %s: %w", uk, err)
		}
		if len(resp.Kvs) == 0 {
			return ufop.Errorf(ufop.KindNotFound, "no such user %q", name)
		}
		var u ufop.User
		if err := json.Unmarshal(resp.Kvs[0].Value, &u); err != nil {
			return fmt.Errorf("catalog: decode %s: %w", uk, err)
		}
		rows, err := fn(&u)
		if err != nil {
			return err
		}
		ub, err := jsonBytes(u)
		if err != nil {
			return err
		}
		ops := []clientv3.Op{clientv3.OpPut(uk, string(ub))}
		for k, v := range rows {
			if v == nil {
				ops = append(ops, clientv3.OpDelete(k))
			} else {
				ops = append(ops, clientv3.OpPut(k, string(v)))
			}
		}
		tx, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(uk), "=", resp.Kvs[0].ModRevision)).
			Then(ops...).Commit()
		if err != nil {
			return fmt.Errorf("catalog: update user %s: %w", name, err)
		}
		if !tx.Succeeded {
			continue
		}
		c.apply(uk, ub, tx.Header.Revision)
		for k, v := range rows {
			c.apply(k, v, tx.Header.Revision)
		}
		return nil
	}
}
