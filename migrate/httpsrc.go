package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/egress"
	"github.com/ufop/ufop/storage"
)

// ListOpener opens a job's key list from its start.
type ListOpener func(ctx context.Context) (io.ReadCloser, error)

// httpSource fetches BASE+key from an origin, through the egress policy,
// for the keys of a list file.
type httpSource struct {
	base     string
	client   *http.Client
	maxBytes int64
	list     ListOpener

	mu  sync.Mutex
	rc  io.ReadCloser // the list, open at off
	sc  *ListScanner
	off int64
}

func newHTTPSource(base string, policy *egress.Policy, maxBytes int64, list ListOpener) *httpSource {
	return &httpSource{base: base, client: policy.Client(egress.ClientConfig{}), maxBytes: maxBytes, list: list}
}

func (h *httpSource) Sorted() bool { return false }

func (h *httpSource) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rc != nil {
		h.rc.Close()
		h.rc = nil
	}
	h.client.CloseIdleConnections()
	return nil
}

// Page reads the list from byte offset pos. It keeps the list open between
// pages; a lister restarted at a checkpoint reads up to it once.
func (h *httpSource) Page(ctx context.Context, pos string, limit int) ([]Entry, string, bool, error) {
	off := int64(0)
	if pos != "" {
		var err error
		if off, err = strconv.ParseInt(pos, 10, 64); err != nil || off < 0 {
			return nil, "", false, ufop.Errorf(ufop.KindInternal, "migrate: bad list position %q", pos)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.list == nil {
		return nil, "", false, ufop.Errorf(ufop.KindInvalid, "an http(s) source needs a key list (--list FILE)")
	}
	if h.rc == nil || h.off != off {
		if h.rc != nil {
			h.rc.Close()
		}
		rc, err := h.list(ctx)
		if err != nil {
			return nil, "", false, err
		}
		if _, err := io.CopyN(io.Discard, rc, off); err != nil {
			rc.Close()
			return nil, "", false, ufop.Errorf(ufop.KindInternal, "migrate: key list shorter than its checkpoint %d: %v", off, err)
		}
		h.rc, h.sc, h.off = rc, NewListScanner(rc, off), off
	}
	var out []Entry
	for len(out) < limit && h.sc.Scan() {
		out = append(out, Entry{Key: h.sc.Key(), Size: -1})
	}
	if err := h.sc.Err(); err != nil {
		return nil, "", false, err
	}
	h.off = h.sc.Offset()
	done := len(out) < limit
	return out, strconv.FormatInt(h.off, 10), done, nil
}

// Open GETs the key from the origin. A 404 is KindNotFound, a body over
// the limit KindTooLarge (from Content-Length before reading, or while
// reading), other failures KindUpstream.
func (h *httpSource) Open(ctx context.Context, key string) (io.ReadCloser, Entry, error) {
	u := h.base + storage.EscapeKey(key)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, Entry{}, ufop.Errorf(ufop.KindInvalid, "origin URL %q: %v", u, err)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		var ue *ufop.Error
		if errors.As(err, &ue) {
			return nil, Entry{}, &ufop.Error{Kind: ue.Kind, Msg: fmt.Sprintf("origin %s: %s", u, ufop.Message(err)), Err: err}
		}
		return nil, Entry{}, &ufop.Error{Kind: ufop.KindUpstream, Msg: fmt.Sprintf("origin %s is unreachable: %v", u, err), Err: err}
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		resp.Body.Close()
		return nil, Entry{}, ufop.Errorf(ufop.KindNotFound, "origin %s: 404 not found", u)
	case resp.StatusCode != http.StatusOK:
		resp.Body.Close()
		return nil, Entry{}, &ufop.Error{Kind: ufop.KindUpstream, Msg: fmt.Sprintf("origin %s answered %s", u, resp.Status),
			Err: statusErr(resp.StatusCode)}
	case h.maxBytes > 0 && resp.ContentLength > h.maxBytes:
		resp.Body.Close()
		return nil, Entry{}, ufop.Errorf(ufop.KindTooLarge, "origin %s: %s is over the object limit of %s", u,
			ufop.FormatBytes(resp.ContentLength), ufop.FormatBytes(h.maxBytes))
	}
	size := resp.ContentLength
	if size < 0 {
		size = -1
	}
	return &limitedBody{rc: resp.Body, left: h.maxBytes, url: u, max: h.maxBytes}, Entry{Key: key, Size: size, Type: resp.Header.Get("Content-Type")}, nil
}

// statusErr marks origin answers worth a retry (5xx, 429).
type statusErr int

func (s statusErr) Error() string { return http.StatusText(int(s)) }

// limitedBody fails with KindTooLarge once more than max bytes came.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
	max  int64
	url  string
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.max <= 0 {
		return l.rc.Read(p)
	}
	if l.left < 0 {
		return 0, ufop.Errorf(ufop.KindTooLarge, "origin %s: body over the object limit of %s", l.url, ufop.FormatBytes(l.max))
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.rc.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, ufop.Errorf(ufop.KindTooLarge, "origin %s: body over the object limit of %s", l.url, ufop.FormatBytes(l.max))
	}
	return n, err
}

func (l *limitedBody) Close() error { return l.rc.Close() }
