package auth

import (
	"container/heap"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ufop/ufop"
)

// NonceParam is the query parameter SignRequest fills with a random value,
// inside the signed string, so that every signed request is unique.
const NonceParam = "nonce"

func newNonce() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

// ReplayExpiry returns until when a request signed with pathAndQuery's ts=
// is acceptable, ts + maxSkew (zero: DefaultMaxSkew): a replay guard must
// remember the signature that long, and may forget it after.
func ReplayExpiry(pathAndQuery string, maxSkew time.Duration) (time.Time, error) {
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	_, rawQuery, _ := strings.Cut(pathAndQuery, "?")
	tsText, n := lookupParam(rawQuery, TimestampParam)
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if n != 1 || err != nil {
		return time.Time{}, ufop.Errorf(ufop.KindUnauthenticated, "request must carry exactly one ts=<unix seconds> query parameter inside its signature")
	}
	return time.Unix(ts, 0).Add(maxSkew), nil
}

// DefaultReplayEntries bounds a ReplayCache: at 15 minutes of skew it
// allows a sustained 110 signed requests a second, in about 10 MiB.
const DefaultReplayEntries = 100_000

// ReplayCache remembers the signatures of admin requests until their
// timestamps leave the skew window, and refuses a signature it has seen:
// a captured request cannot be sent again. It is per process and bounded;
// gateways that share a cluster add a shared record (the gateway's etcd
// guard) behind it. Safe for concurrent use.
type ReplayCache struct {
	maxSkew time.Duration
	max     int

	mu   sync.Mutex
	seen map[[20]byte]struct{}
	exp  expiryHeap
}

// NewReplayCache returns a cache for requests accepted within maxSkew
// (zero: DefaultMaxSkew) holding at most max signatures (zero:
// DefaultReplayEntries).
func NewReplayCache(maxSkew time.Duration, max int) *ReplayCache {
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	if max <= 0 {
		max = DefaultReplayEntries
	}
	return &ReplayCache{maxSkew: maxSkew, max: max, seen: map[[20]byte]struct{}{}}
}

// Check records the signature of a verified request and refuses it (401)
// if it was recorded before. Call it after the signature verified, so
// that only key holders can fill the cache. When the cache is full of
// signatures still inside their window it refuses with 503 rather than
// forget one.
func (c *ReplayCache) Check(cred Credential, pathAndQuery string, now time.Time) error {
	until, err := ReplayExpiry(pathAndQuery, c.maxSkew)
	if err != nil {
		return err
	}
	var k [20]byte
	copy(k[:], cred.Sig)
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.exp) > 0 && !c.exp[0].until.After(now) {
		delete(c.seen, heap.Pop(&c.exp).(expiry).sig)
	}
	if _, ok := c.seen[k]; ok {
		return ErrReplayed
	}
	if len(c.seen) >= c.max {
		return &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: time.Second,
			Msg: "too many signed requests inside the replay window: try again shortly"}
	}
	c.seen[k] = struct{}{}
	heap.Push(&c.exp, expiry{sig: k, until: until})
	return nil
}

// Len returns how many signatures the cache holds.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// ErrReplayed is the error of a request whose signature was seen before.
var ErrReplayed error = &ufop.Error{Kind: ufop.KindUnauthenticated,
	Msg: "this signed request was already received (replay): sign every request afresh"}

type expiry struct {
	sig   [20]byte
	until time.Time
}

// expiryHeap is a min-heap of signatures by expiry.
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
