package ufopctl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/protocol"
)

// Prefetch fetches key from the mirror origin of bucket now, replacing
// what is stored, and returns the stored object (SPEC §10).
func (c *Client) Prefetch(ctx context.Context, bucket, key string) (ufop.Object, error) {
	var obj ufop.Object
	err := c.Do(ctx, http.MethodPost, protocol.PrefetchPrefix+url.PathEscape(bucket)+"/"+EscapeKey(key), nil, &obj)
	return obj, err
}

// prefetchResult is one key's line of `prefetch -o json`.
type prefetchResult struct {
	Key    string       `json:"key"`
	OK     bool         `json:"ok"`
	Object *ufop.Object `json:"object,omitempty"`
	Code   int          `json:"code,omitempty"`
	Error  string       `json:"error,omitempty"`
}

func runPrefetch(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flags(), args, 2, 1<<20)
	if err != nil {
		return err
	}
	bucket, keys := pos[0], pos[1:]
	cl, err := c.client()
	if err != nil {
		return fmt.Errorf("prefetch %s: %w", bucket, err)
	}
	results := make([]prefetchResult, 0, len(keys))
	failed := 0
	for _, key := range keys {
		obj, err := cl.Prefetch(ctx, bucket, key)
		r := prefetchResult{Key: key, OK: err == nil}
		if err == nil {
			r.Object = &obj
			c.printf("fetched %s/%s (%s, %s)\n", bucket, key, formatSize(obj.Size), obj.ContentType)
		} else {
			if ctx.Err() != nil {
				return fmt.Errorf("prefetch %s/%s: %w", bucket, key, err)
			}
			failed++
			r.Error = err.Error()
			var ae *APIError
			if errors.As(err, &ae) {
				r.Code, r.Error = ae.Code, ae.Message
			}
			c.printf("failed %s/%s: %s\n", bucket, key, oneLine(err.Error()))
		}
		results = append(results, r)
	}
	if c.json() {
		if err := c.printJSON(results); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("prefetch %s: %d of %d keys failed", bucket, failed, len(keys))
	}
	return nil
}
