package gateway

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/storage"
)

// Named styles (SPEC §12, docs/styles.md). A style is expanded into its
// definition before the pipeline is parsed: the ETag, the gateway's memory
// cache and the agents' result cache are all keyed by the expanded
// pipeline (fop.ResultKey), so a changed style is a new key at once and
// nothing is ever keyed by a style's name.

// MaxStyleBytes bounds a style's definition.
const MaxStyleBytes = 8 << 10

func (g *Gateway) mountStyles(v1 *echo.Group) {
	v1.PATCH("/buckets/:bucket", g.changeBucket)
	v1.GET("/buckets/:bucket/styles", g.listStyles)
	v1.GET("/buckets/:bucket/styles/:name", g.getStyle)
	v1.PUT("/buckets/:bucket/styles/:name", g.setStyle)
	v1.DELETE("/buckets/:bucket/styles/:name", g.deleteStyle)
}

// changeBucket is PATCH /v1/buckets/<name>: style separators and the
// protection of originals (bucket set).
func (g *Gateway) changeBucket(c echo.Context) error {
	b, err := g.ownBucket(c, c.Param("bucket"))
	if err != nil {
		return err
	}
	var ch protocol.BucketChange
	if err := decodeJSON(c, &ch); err != nil {
		return err
	}
	if ch.StyleSep == nil && ch.ProtectOriginal == nil {
		return ufop.Errorf(ufop.KindInvalid, "bucket change: give styleSep or protectOriginal")
	}
	nb, err := g.cat.ChangeBucket(c.Request().Context(), b.Name, ch)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, nb)
}

func (g *Gateway) listStyles(c echo.Context) error {
	b, err := g.ownBucket(c, c.Param("bucket"))
	if err != nil {
		return err
	}
	ss := g.cat.Styles(b.Name)
	if ss == nil {
		ss = []protocol.Style{}
	}
	return c.JSON(http.StatusOK, map[string]any{"styles": ss})
}

func (g *Gateway) getStyle(c echo.Context) error {
	b, err := g.ownBucket(c, c.Param("bucket"))
	if err != nil {
		return err
	}
	st, err := g.cat.Style(b.Name, c.Param("name"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

func (g *Gateway) setStyle(c echo.Context) error {
	b, err := g.ownBucket(c, c.Param("bucket"))
	if err != nil {
		return err
	}
	name := c.Param("name")
	if err := fop.ValidateStyleName(name); err != nil {
		return err
	}
	var req protocol.StyleSet
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	fops := strings.TrimSpace(req.Fops)
	switch {
	case fops == "":
		return ufop.Errorf(ufop.KindInvalid, "style %q: give its fops, like imageView2/2/w/200", name)
	case len(fops) > MaxStyleBytes:
		return ufop.Errorf(ufop.KindTooLarge, "style %q: the fops are %s, over the %s limit", name,
			ufop.FormatBytes(int64(len(fops))), ufop.FormatBytes(MaxStyleBytes))
	}
	if _, err := fop.ParseStyle(fops, g.cfg.MaxPipeline); err != nil {
		return &ufop.Error{Kind: ufop.KindOf(err), Msg: fmt.Sprintf("style %q: %s", name, ufop.Message(err)), Err: err}
	}
	st, err := g.cat.SetStyle(c.Request().Context(), b.Name, name, fops)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

func (g *Gateway) deleteStyle(c echo.Context) error {
	b, err := g.ownBucket(c, c.Param("bucket"))
	if err != nil {
		return err
	}
	if err := g.cat.DeleteStyle(c.Request().Context(), b.Name, c.Param("name")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// styleUse is what styles made of a download.
type styleUse struct {
	// only: the download is exactly one style, nothing added; what a
	// bucket protecting its originals serves to anyone.
	only bool
	// defs are the styles used, by name, with their definitions.
	defs map[string]string
}

// styledRequest reads the style a download names in its path (KEY<c>NAME,
// with c one of the bucket's separators and NAME one of its styles: the
// style wins over a stored key spelled alike), applies the bucket's
// protection of originals, and expands every style step. It returns the
// key to read and the query, still percent-encoded as serveObject takes
// it, whose decoding is the pipeline with each style's definition in
// place, exactly as the definition was checked when set.
func (g *Gateway) styledRequest(rq requester, b ufop.Bucket, key, rawKey, fops string) (string, string, styleUse, error) {
	if k, name, ok := fop.SplitStyled(rawKey, b.StyleSep); ok {
		if dk, err := url.PathUnescape(k); err == nil && storage.ValidateKey(dk) == nil && g.cat.HasStyle(b.Name, name) {
			key = dk
			fops = strings.TrimSuffix(fop.StyleStep+"/"+name+"|"+fops, "|")
		}
	}
	su := styleUse{only: onlyStyle(fops)}
	// Only a style alone is public: the owner chose what it shows.
	if b.ProtectOriginal && !su.only {
		if err := ownerSigned(rq, b, fmt.Sprintf("bucket %q shows its objects only through its styles: use <key>%s<style>, ?style/<name> or a signed URL (ufopctl sign)",
			b.Name, firstSep(b.StyleSep))); err != nil {
			return "", "", su, err
		}
	}
	dec, err := url.PathUnescape(fops)
	if err != nil {
		return key, fops, su, nil // serveObject refuses it as before
	}
	expanded, defs, err := g.expandStyles(b, dec)
	if err != nil || defs == nil {
		return key, fops, su, err
	}
	su.defs = defs
	return key, url.PathEscape(expanded), su, nil
}

// onlyStyle reports whether the raw query fops is one style step alone.
func onlyStyle(fops string) bool {
	dec, err := url.PathUnescape(fops)
	if err != nil {
		return false // refused as malformed later
	}
	_, ok := fop.OnlyStyle(dec)
	return ok
}

func firstSep(seps string) string {
	if seps == "" {
		return "?style/" // no separator set: the query form is the one that works
	}
	return seps[:1]
}

// protectCacheControl keeps what a protected bucket serves only to its
// owner (originals, arbitrary fops) out of shared caches.
func protectCacheControl(c echo.Context, b ufop.Bucket, su styleUse) {
	if b.ProtectOriginal && !su.only {
		c.Response().Header().Set("Cache-Control", "private, no-cache")
	}
}

// expandStyles replaces the style steps of fops with their definitions in
// bucket b, and returns the styles used by name with their definitions.
func (g *Gateway) expandStyles(b ufop.Bucket, fops string) (string, map[string]string, error) {
	var used map[string]string
	out, _, err := fop.ExpandStyles(fops, func(name string) (string, error) {
		st, err := g.cat.Style(b.Name, name)
		if err != nil {
			return "", err
		}
		if used == nil {
			used = map[string]string{}
		}
		used[name] = st.Fops
		return st.Fops, nil
	})
	return out, used, err
}

// readRefOriginals applies the protection of originals to the other images
// a pipeline reads (watermarks), which readRefs has let through: an image
// of a protecting bucket needs the owner's signature, unless a style of a
// bucket of the same owner names it (the owner's own mark on its own
// styles). Without this a public pipeline could show any protected
// original as a watermark.
func (g *Gateway) readRefOriginals(rq requester, b ufop.Bucket, refs map[string]ufop.ObjectRef, styles map[string]string) error {
	var fromStyles map[string]bool
	for ref, o := range refs {
		rb, err := g.cat.Bucket(o.Bucket)
		if err != nil {
			return err
		}
		if !rb.ProtectOriginal {
			continue
		}
		if fromStyles == nil {
			fromStyles = styleRefs(styles, g.cfg.MaxPipeline)
		}
		if fromStyles[ref] && rb.Owner == b.Owner {
			continue
		}
		if err := ownerSigned(rq, rb, ""); err != nil {
			return ufop.Errorf(ufop.KindPermission, "watermark image %q: bucket %q shows its objects only through its styles", ref, rb.Name)
		}
	}
	return nil
}

// styleRefs lists the images the given style definitions read.
func styleRefs(styles map[string]string, maxSteps int) map[string]bool {
	out := map[string]bool{}
	for _, def := range styles {
		p, err := fop.ParseStyle(def, maxSteps)
		if err != nil {
			continue // the request's own parse already answered for it
		}
		for _, r := range p.Refs() {
			out[r] = true
		}
	}
	return out
}
