package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/storage"
)

// requester is who a public request reads objects for. Every object a
// request reads (its source, watermark images, and whatever reads objects
// later) passes mayRead for it: the agents that do the reading get only a
// grant for the objects that passed (docs/decisions.md "Reads").
type requester struct {
	// user is the signer of the request's download token; nil when the
	// request carries none.
	user *ufop.User
	// referer is the request's Referer header, for buckets with a referer
	// allow-list.
	referer string
	// host is the Host the request came to: a URL naming an image on it
	// is an address of this platform.
	host string
}

// mayRead is the one rule for reading an object: anyone may read a public
// bucket's objects (within its referer allow-list); a private bucket's
// only a request signed by its owner or an admin.
func mayRead(rq requester, b ufop.Bucket) error {
	if b.Private {
		if err := ownerSigned(rq, b, fmt.Sprintf("bucket %q is private: use a signed URL (ufopctl sign)", b.Name)); err != nil {
			return err
		}
	}
	return checkReferer(b, rq.referer)
}

// ownerSigned is the rule for what only a bucket's owner may read: the
// request is signed by a key of the owner or of an admin. unsigned is the
// message when it is not signed at all.
func ownerSigned(rq requester, b ufop.Bucket, unsigned string) error {
	if rq.user == nil {
		return &ufop.Error{Kind: ufop.KindUnauthenticated, Msg: unsigned}
	}
	if rq.user.Name != b.Owner && !rq.user.Admin {
		return ufop.Errorf(ufop.KindPermission, "the signing key has no access to bucket %q", b.Name)
	}
	return nil
}

// readRefs resolves the other images a pipeline reads and checks each
// with mayRead. Refusals are 403 whether or not the request is signed:
// the request itself is readable, what it names is not.
func (g *Gateway) readRefs(rq requester, refs []string) (map[string]ufop.ObjectRef, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	out := make(map[string]ufop.ObjectRef, len(refs))
	for _, ref := range refs {
		o, err := g.resolveRef(rq, ref)
		if err != nil {
			return nil, err
		}
		b, err := g.cat.Bucket(o.Bucket)
		if err != nil {
			return nil, fmt.Errorf("gateway: watermark image %q: %w", ref, err)
		}
		if err := mayRead(rq, b); err != nil {
			if k := ufop.KindOf(err); k == ufop.KindUnauthenticated || k == ufop.KindPermission {
				return nil, &ufop.Error{Kind: ufop.KindPermission, Err: err,
					Msg: fmt.Sprintf("watermark image %q: %s", ref, ufop.Message(err))}
			}
			return nil, err
		}
		out[ref] = o
	}
	return out, nil
}

// resolveRef turns an image reference into the object it names:
// "bucket:key", or a URL of this platform (the address policy): http(s),
// on the host the request came to, this gateway's address, the configured
// domain (/<bucket>/<key>) or <bucket>.<domain> (/<key>), with no user
// info, query or fragment. Nothing is ever fetched from the URL itself.
func (g *Gateway) resolveRef(rq requester, ref string) (ufop.ObjectRef, error) {
	var o ufop.ObjectRef
	if !strings.Contains(ref, "://") {
		b, k, ok := strings.Cut(ref, ":")
		if !ok || b == "" || k == "" {
			return o, ufop.Errorf(ufop.KindInvalid, "watermark image %q: use bucket:key or a URL of this platform", ref)
		}
		o = ufop.ObjectRef{Bucket: b, Key: k}
	} else {
		u, err := url.Parse(ref)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.User != nil ||
			u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			return o, ufop.Errorf(ufop.KindInvalid, "watermark image URL %q: use http(s)://<this platform>/<bucket>/<key>, without a query", ref)
		}
		host, hostname := strings.ToLower(u.Host), strings.ToLower(u.Hostname())
		domain := strings.ToLower(g.cfg.Domain)
		path := strings.TrimPrefix(u.Path, "/")
		switch b, sub := strings.CutSuffix(hostname, "."+domain); {
		case domain != "" && sub && b != "" && !strings.Contains(b, "."):
			o = ufop.ObjectRef{Bucket: b, Key: path}
		case host == strings.ToLower(rq.host) || host == strings.ToLower(g.Addr()) || (domain != "" && hostname == domain):
			o.Bucket, o.Key, _ = strings.Cut(path, "/")
		default:
			return o, ufop.Errorf(ufop.KindInvalid, "watermark image URL %q is not an address of this platform: name the image as bucket:key", ref)
		}
		if o.Bucket == "" || o.Key == "" {
			return o, ufop.Errorf(ufop.KindInvalid, "watermark image URL %q must name /<bucket>/<key>", ref)
		}
	}
	if err := storage.ValidateKey(o.Key); err != nil {
		return o, fmt.Errorf("gateway: watermark image %q: %w", ref, err)
	}
	return o, nil
}

// A read grant is the capability a job carries for the objects it may
// read at the internal object endpoint: base64url JSON of grantBody, ".",
// base64url HMAC-SHA256 of that with a key derived from the cluster token,
// so that any gateway of the cluster can check it.
type grantBody struct {
	Objects []ufop.ObjectRef `json:"o"`
	Expires int64            `json:"e"`
}

func grantKey(clusterToken string) []byte {
	sum := sha256.Sum256([]byte("ufop read grant\x00" + clusterToken))
	return sum[:]
}

func grantMAC(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

func mintGrant(key []byte, objs []ufop.ObjectRef, expires time.Time) string {
	body, _ := json.Marshal(grantBody{Objects: objs, Expires: expires.Unix()})
	payload := base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + base64.RawURLEncoding.EncodeToString(grantMAC(key, payload))
}

// checkGrant reports whether grant, minted with key and not expired,
// covers o.
func checkGrant(key []byte, grant string, o ufop.ObjectRef, now time.Time) error {
	payload, sig, ok := strings.Cut(grant, ".")
	if grant == "" || !ok {
		return ufop.Errorf(ufop.KindPermission, "a read grant is required")
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, grantMAC(key, payload)) {
		return ufop.Errorf(ufop.KindPermission, "the read grant is not valid")
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	var body grantBody
	if err != nil || json.Unmarshal(raw, &body) != nil {
		return ufop.Errorf(ufop.KindPermission, "the read grant is not valid")
	}
	if now.Unix() > body.Expires {
		return ufop.Errorf(ufop.KindPermission, "the read grant has expired")
	}
	if !slices.Contains(body.Objects, o) {
		return ufop.Errorf(ufop.KindPermission, "the read grant does not cover %s/%s", o.Bucket, o.Key)
	}
	return nil
}
