package gateway

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/protocol"
)

// replayGuard refuses an admin request whose signature was seen before:
// first in this gateway's bounded memory, then, when a prefix is set, in
// etcd, where each signature is a create-only key that outlives the skew
// window. The etcd check costs one transaction per admin request; the
// data path (downloads and processing) never pays it.
type replayGuard struct {
	local  *auth.ReplayCache
	cli    *clientv3.Client
	prefix string
	skew   time.Duration

	mu         sync.Mutex
	lease      clientv3.LeaseID
	leaseUntil time.Time // new keys may use lease until then
}

// leaseEvery is how long one lease takes new signatures: leases are
// shared, so there are about (2*skew)/leaseEvery of them alive, not one
// per request.
const leaseEvery = time.Minute

func newReplayGuard(cli *clientv3.Client, prefix string, skew time.Duration, entries int) *replayGuard {
	return &replayGuard{local: auth.NewReplayCache(skew, entries), cli: cli, prefix: prefix, skew: skew}
}

// check records the signature of a request that verified.
func (g *replayGuard) check(ctx context.Context, cred auth.Credential, target string) error {
	if err := g.local.Check(cred, target, time.Now()); err != nil {
		return err
	}
	if g.prefix == "" {
		return nil
	}
	lease, err := g.currentLease(ctx)
	if err != nil {
		return err
	}
	k := protocol.ReplayKey(g.prefix, hex.EncodeToString(cred.Sig))
	tx, err := g.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, "", clientv3.WithLease(lease))).Commit()
	if err != nil {
		return &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: time.Second,
			Msg: "cannot record the request against replay: try again shortly", Err: fmt.Errorf("gateway: replay record: %w", err)}
	}
	if !tx.Succeeded {
		return auth.ErrReplayed
	}
	return nil
}

// currentLease returns a lease that outlives any signature recorded now:
// a request stays acceptable until its ts plus the skew, and its ts may
// be up to the skew ahead of now.
func (g *replayGuard) currentLease(ctx context.Context) (clientv3.LeaseID, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if g.lease != 0 && now.Before(g.leaseUntil) {
		return g.lease, nil
	}
	ttl := 2*g.skew + leaseEvery + time.Second
	resp, err := g.cli.Grant(ctx, int64(ttl/time.Second))
	if err != nil {
		return 0, &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: time.Second,
			Msg: "cannot record the request against replay: try again shortly", Err: fmt.Errorf("gateway: replay lease: %w", err)}
	}
	g.lease, g.leaseUntil = resp.ID, now.Add(leaseEvery)
	return g.lease, nil
}
