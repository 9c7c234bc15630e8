// Package catalog is the platform's control-plane state in etcd: users and
// their keys, buckets, and (as the platform grows) limits and UFOPs. Every
// gateway keeps a watched in-memory copy, so request-path lookups cost no
// round trip and a change made through one gateway reaches the others in
// well under a second.
package catalog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop/internal/etcdwatch"
	"github.com/ufop/ufop/protocol"
)

// Config configures a Catalog.
type Config struct {
	// Prefix is the etcd key prefix of the catalog.
	Prefix string
	// MasterKey (32 bytes) seals secret keys at rest. Every gateway of a
	// cluster needs the same one; roles that never read secrets (the
	// scheduler) leave it empty.
	MasterKey []byte
}

// DefaultConfig returns the defaults; MasterKey must still be set.
func DefaultConfig() Config { return Config{Prefix: protocol.CatalogPrefix} }

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	if !strings.HasSuffix(c.Prefix, "/") {
		return errors.New("catalog: prefix must end with /")
	}
	if len(c.MasterKey) != 0 && len(c.MasterKey) != 32 {
		return errors.New("catalog: master key must be 32 bytes")
	}
	return nil
}

// The tables, as sub-prefixes of Config.Prefix.
const (
	tUsers   = protocol.TableUsers
	tKeys    = protocol.TableKeys
	tBuckets = protocol.TableBuckets
)

// Catalog reads and writes the control-plane state.
type Catalog struct {
	cfg    Config
	cli    *clientv3.Client
	logger *slog.Logger
	seal   sealer

	mu    sync.RWMutex
	rows  map[string]row // full etcd key → value
	ready chan struct{}
	once  sync.Once

	changed changed // see Changed
}

type row struct {
	value []byte
	rev   int64
}

// New returns a catalog; Run loads and follows it.
func New(cfg Config, cli *clientv3.Client, logger *slog.Logger) (*Catalog, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var s sealer
	if cfg.MasterKey != nil {
		var err error
		if s, err = newSealer(cfg.MasterKey); err != nil {
			return nil, err
		}
	}
	return &Catalog{cfg: cfg, cli: cli, logger: logger, seal: s, rows: map[string]row{}, ready: make(chan struct{})}, nil
}

// Ready is closed once the in-memory copy holds a full snapshot.
func (c *Catalog) Ready() <-chan struct{} { return c.ready }

// Run loads the catalog and follows changes until ctx ends.
func (c *Catalog) Run(ctx context.Context) error {
	return etcdwatch.Follower{Client: c.cli, Prefix: c.cfg.Prefix, Load: c.load, Apply: c.applyEvents,
		Broken: func(err error) { c.logger.Warn("catalog watch broken, reloading", "err", err) }}.Run(ctx)
}

// load replaces the in-memory copy with a full snapshot.
func (c *Catalog) load(kvs []etcdwatch.KV) {
	rows := make(map[string]row, len(kvs))
	for _, kv := range kvs {
		rows[kv.Key] = row{value: kv.Value, rev: kv.ModRevision}
	}
	c.mu.Lock()
	c.rows = rows
	c.mu.Unlock()
	c.once.Do(func() { close(c.ready) })
}

// applyEvents applies watched changes; a row this process wrote itself
// (apply) may already be newer than the event.
func (c *Catalog) applyEvents(evs []etcdwatch.Event) {
	defer c.changed.signal()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ev := range evs {
		k := ev.KV.Key
		if ev.Delete {
			delete(c.rows, k)
		} else if ev.KV.ModRevision >= c.rows[k].rev {
			c.rows[k] = row{value: ev.KV.Value, rev: ev.KV.ModRevision}
		}
	}
}

func (c *Catalog) key(table, name string) string {
	return protocol.CatalogKey(c.cfg.Prefix, table, name)
}

// get reads one row from the in-memory copy.
func (c *Catalog) get(table, name string, v any) (bool, error) {
	c.mu.RLock()
	r, ok := c.rows[c.key(table, name)]
	c.mu.RUnlock()
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(r.value, v); err != nil {
		return false, fmt.Errorf("catalog: decode %s%s: %w", table, name, err)
	}
	return true, nil
}

// scan decodes every row of a table from the in-memory copy.
func scan[T any](c *Catalog, table string) []T {
	prefix := c.cfg.Prefix + table
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []T
	for k, r := range c.rows {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		var v T
		if err := json.Unmarshal(r.value, &v); err != nil {
			c.logger.Warn("bad catalog row", "key", k, "err", err)
			continue
		}
		out = append(out, v)
	}
	return out
}

// apply records a write this process made, so that it reads its own writes
// before the watch delivers them.
func (c *Catalog) apply(key string, value []byte, rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if value == nil {
		delete(c.rows, key)
		return
	}
	if rev >= c.rows[key].rev {
		c.rows[key] = row{value: value, rev: rev}
	}
}

// create writes key only if it does not exist yet.
func (c *Catalog) create(ctx context.Context, ops []clientv3.Op, mustNotExist ...string) (int64, error) {
	cmps := make([]clientv3.Cmp, len(mustNotExist))
	for i, k := range mustNotExist {
		cmps[i] = clientv3.Compare(clientv3.CreateRevision(k), "=", 0)
	}
	resp, err := c.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return 0, fmt.Errorf("catalog: write: %w", err)
	}
	if !resp.Succeeded {
		return 0, errExists
	}
	return resp.Header.Revision, nil
}

var errExists = errors.New("exists")

// put writes key unconditionally and records it.
func (c *Catalog) put(ctx context.Context, key string, v any) error {
	b, err := jsonBytes(v)
	if err != nil {
		return err
	}
	resp, err := c.cli.Put(ctx, key, string(b))
	if err != nil {
		return fmt.Errorf("catalog: put %s: %w", key, err)
	}
	c.apply(key, b, resp.Header.Revision)
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

// ClusterToken returns the shared secret gateways present to agents,
// creating it on first use.
func ClusterToken(ctx context.Context, cli *clientv3.Client, prefix string) (string, error) {
	key := protocol.ClusterTokenKey(prefix)
	tok := randomHex(24)
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, tok)).
		Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return "", fmt.Errorf("catalog: cluster token: %w", err)
	}
	if resp.Succeeded {
		return tok, nil
	}
	return string(resp.Responses[0].GetResponseRange().Kvs[0].Value), nil
}

// ClusterID returns the platform's identity, created on first use. It is
// no secret: it labels the Docker resources of the cluster's agents, so
// that a sweep of dead agents' leftovers never touches another platform's
// on the same engine.
func ClusterID(ctx context.Context, cli *clientv3.Client, prefix string) (string, error) {
	key := protocol.ClusterIDKey(prefix)
	id := randomHex(8)
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, id)).
		Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return "", fmt.Errorf("catalog: cluster id: %w", err)
	}
	if resp.Succeeded {
		return id, nil
	}
	return string(resp.Responses[0].GetResponseRange().Kvs[0].Value), nil
}

func jsonBytes(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("catalog: encode: %w", err)
	}
	return b, nil
}
