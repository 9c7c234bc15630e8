package migrate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/storage"
)

// Copier copies one key of a source into a bucket.
type Copier struct {
	Store storage.Store
	// Attempts bounds the tries of one key; Backoff is the first pause,
	// doubled each retry up to MaxBackoff, with ±50% jitter.
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Progress, when set, is called while a key waits for its next try
	// (the worker extends the key's ack deadline).
	Progress func()
	// OnPut, when set, is called before each Put (the runner logs it at
	// debug level: crash tests count the writes).
	OnPut func(key string)
}

// Copy copies e from src into bucket, retrying what may pass, and returns
// the outcome as counts: copied, skipped (the bucket already had the same
// content), or failed with the reason. It returns an error only when ctx
// ended: the key is then left for another worker.
func (c Copier) Copy(ctx context.Context, src Source, bucket string, e Entry) (Progress, error) {
	pause := c.Backoff
	for attempt := 1; ; attempt++ {
		d, err := c.copyOnce(ctx, src, bucket, e)
		if err == nil {
			return d, nil
		}
		if ctx.Err() != nil {
			return Progress{}, ctx.Err()
		}
		if !retryable(err) || attempt >= c.Attempts {
			reason := ufop.Message(err)
			if attempt > 1 {
				reason = fmt.Sprintf("%s (after %d attempts)", reason, attempt)
			}
			return Progress{Failed: 1, Failures: []protocol.MigrateFailure{{Key: e.Key, Reason: reason}}}, nil
		}
		// Full jitter around the pause: workers that failed together do
		// not retry together.
		d2 := pause/2 + time.Duration(rand.Int64N(int64(pause)+1))
		if c.Progress != nil {
			c.Progress()
		}
		select {
		case <-ctx.Done():
			return Progress{}, ctx.Err()
		case <-time.After(d2):
		}
		pause = min(2*pause, c.MaxBackoff)
	}
}

// retryable reports failures that another try may get past.
func retryable(err error) bool {
	var st statusErr
	if errors.As(err, &st) {
		return st >= 500 || st == 429 || st == 408
	}
	switch ufop.KindOf(err) {
	case ufop.KindInvalid, ufop.KindNotFound, ufop.KindTooLarge, ufop.KindPermission, ufop.KindUnsupported,
		ufop.KindUnauthenticated:
		return false
	}
	return true
}

func (c Copier) copyOnce(ctx context.Context, src Source, bucket string, e Entry) (Progress, error) {
	if err := storage.ValidateKey(e.Key); err != nil {
		return Progress{}, ufop.Errorf(ufop.KindInvalid, "not a valid ufop key: %s", ufop.Message(err))
	}
	var tgt ufop.Object
	found := false
	if e.Hint == "" {
		var err error
		tgt, err = c.Store.Stat(ctx, bucket, e.Key)
		found = err == nil
		if err != nil && ufop.KindOf(err) != ufop.KindNotFound {
			return Progress{}, err
		}
	}
	if found && e.Size == tgt.Size {
		if cmp, eq := sameETag(e.ETag, tgt.ETag); cmp && eq {
			return Progress{Skipped: 1}, nil
		}
	}
	if cmp, eq := sameETag(e.ETag, tgt.ETag); !found || e.Size != tgt.Size || (cmp && !eq) {
		// Missing or known to differ: on one S3 server, the server copies.
		obj, ok, err := serverCopy(ctx, c.Store, src, bucket, e)
		if err != nil {
			return Progress{}, err
		}
		if ok {
			if c.OnPut != nil {
				c.OnPut(e.Key)
			}
			return Progress{Copied: 1, Bytes: obj.Size}, nil
		}
	}
	rc, se, err := src.Open(ctx, e.Key)
	if err != nil {
		return Progress{}, err
	}
	if found && (se.Size < 0 || se.Size == tgt.Size) {
		cmp, eq := sameETag(se.ETag, tgt.ETag)
		if cmp && eq {
			rc.Close()
			return Progress{Skipped: 1}, nil
		}
		if !cmp {
			// No digest to compare: hash the source and match it with the
			// target's ETag (a SHA-256 or an MD5).
			sha, md, n, err := hashStream(rc)
			rc.Close()
			if err != nil {
				return Progress{}, err
			}
			if n == tgt.Size && matchesETag(tgt.ETag, sha, md) {
				return Progress{Skipped: 1}, nil
			}
			if rc, se, err = src.Open(ctx, e.Key); err != nil {
				return Progress{}, err
			}
		}
	}
	defer rc.Close()
	if c.OnPut != nil {
		c.OnPut(e.Key)
	}
	obj, err := c.Store.Put(ctx, bucket, e.Key, rc, storage.PutOptions{ContentType: se.Type})
	if err != nil {
		return Progress{}, err
	}
	return Progress{Copied: 1, Bytes: obj.Size}, nil
}
