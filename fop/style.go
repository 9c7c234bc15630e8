package fop

import (
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/ufop/ufop"
)

// Named styles (SPEC §12, docs/styles.md): a bucket's owner names a
// pipeline; a download names the style instead of the fops, either as a
// step, ?style/NAME, or joined to the key by one of the bucket's separator
// characters, KEY<c>NAME.

// StyleStep is the step name of a style in a processing query:
// style/NAME. It is reserved: no UFOP may take it.
const StyleStep = "style"

// MaxStyleName is the longest style name, in bytes.
const MaxStyleName = 64

// StyleSeparators are the characters a bucket may join keys and style
// names with: those a URL path carries as they are (RFC 3986 pchar and
// '/', letters and digits aside), so a separator never needs escaping
// and an escaped one (%2D for '-') stays part of the key.
const StyleSeparators = "-._~!$&'()*+,;=:@/"

// ValidateStyleName reports whether name can name a style: 1 to 64
// characters of A-Z, a-z, 0-9, '_', '.' and '-'. A name must also hold
// none of its bucket's separators (checked where both are known).
func ValidateStyleName(name string) error {
	if name == "" || len(name) > MaxStyleName {
		return ufop.Errorf(ufop.KindInvalid, "style name %q: use 1 to %d characters of A-Z, a-z, 0-9, '_', '.' and '-'", name, MaxStyleName)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return ufop.Errorf(ufop.KindInvalid, "style name %q: use only A-Z, a-z, 0-9, '_', '.' and '-'", name)
		}
	}
	return nil
}

// ValidateStyleSep reports whether seps can be a bucket's set of style
// separators: each character once, each from StyleSeparators. "" turns
// KEY<c>NAME off.
func ValidateStyleSep(seps string) error {
	for i := 0; i < len(seps); i++ {
		c := seps[i]
		if strings.IndexByte(StyleSeparators, c) < 0 {
			return ufop.Errorf(ufop.KindInvalid, "style separator %q: use characters of %s", string(rune(c)), StyleSeparators)
		}
		if strings.IndexByte(seps[:i], c) >= 0 {
			return ufop.Errorf(ufop.KindInvalid, "style separator %q is given twice", string(rune(c)))
		}
	}
	return nil
}

// StyleNameClash returns the first separator of seps that name holds, or
// "" when there is none: such a name could never be split off a key.
func StyleNameClash(name, seps string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < utf8.RuneSelf && strings.IndexByte(seps, c) >= 0 {
			return name[i : i+1]
		}
	}
	return ""
}

// ParseStyle parses a style's definition: a pipeline as Parse takes it,
// without saveas (a public download must not write) and without style
// steps (a style does not name another).
func ParseStyle(fops string, maxSteps int) (Pipeline, error) {
	p, err := Parse(fops, maxSteps)
	if err != nil {
		return p, err
	}
	if p.SaveAs != nil {
		return Pipeline{}, ufop.Errorf(ufop.KindInvalid, "a style cannot end in saveas: add |saveas/... to the download URL instead")
	}
	for _, s := range p.Steps {
		if s.Name() == StyleStep {
			return Pipeline{}, ufop.Errorf(ufop.KindInvalid, "a style cannot use another style (%s)", s)
		}
	}
	return p, nil
}

// SplitStyled splits a download's key, still percent-encoded as it came
// (rawKey), at the LAST occurrence of any
// separator of seps: KEY<c>NAME gives KEY (still encoded) and NAME, ok
// when KEY is not empty and NAME has the form of a style name. Whether
// NAME is a style of the bucket is the caller's question; when it is not,
// the whole rawKey is the key. An escaped separator (%2D) is no separator.
func SplitStyled(rawKey, seps string) (key, name string, ok bool) {
	if seps == "" {
		return "", "", false
	}
	// Bytes, not runes: separators are ASCII, and a stray byte of a
	// malformed key must not match a malformed separator.
	i := len(rawKey) - 1
	for ; i >= 0; i-- {
		if c := rawKey[i]; c < utf8.RuneSelf && strings.IndexByte(seps, c) >= 0 {
			break
		}
	}
	if i <= 0 {
		return "", "", false
	}
	name = rawKey[i+1:]
	if ValidateStyleName(name) != nil {
		return "", "", false
	}
	return rawKey[:i], name, true
}

// OnlyStyle reports whether query, percent-decoded, is exactly one style
// step and nothing else, and names the style.
func OnlyStyle(query string) (string, bool) {
	parts := splitSteps(query)
	if len(parts) != 1 {
		return "", false
	}
	name, ok := styleStep(parts[0])
	return name, ok
}

// styleStep reads style/NAME; ok is false for any other step.
func styleStep(part string) (string, bool) {
	step, rest, _ := strings.Cut(part, "/")
	if dec, err := url.PathUnescape(step); err != nil || dec != StyleStep {
		return "", false
	}
	if dec, err := url.PathUnescape(rest); err == nil {
		rest = dec
	}
	return rest, true
}

// ExpandStyles replaces each style/NAME step of query (percent-decoded,
// as Parse takes it) with the definition lookup gives for NAME, and lists
// the names in order. A query without style steps comes back as it is.
// The expansion is what Parse, ResultKey and the caches see: a changed
// definition is a different pipeline, never the old result.
func ExpandStyles(query string, lookup func(name string) (string, error)) (string, []string, error) {
	parts := splitSteps(query)
	var names []string
	for i, part := range parts {
		name, ok := styleStep(part)
		if !ok {
			continue
		}
		if err := ValidateStyleName(name); err != nil {
			return "", nil, err
		}
		def, err := lookup(name)
		if err != nil {
			return "", nil, err
		}
		parts[i] = def
		names = append(names, name)
	}
	if names == nil {
		return query, nil, nil
	}
	return strings.Join(parts, "|"), names, nil
}
