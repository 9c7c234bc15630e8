package fop

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"slices"
	"strings"

	"github.com/ufop/ufop"
)

// DefaultMaxSteps is the longest pipeline Parse accepts when the caller
// sets no limit.
const DefaultMaxSteps = 10

// Pipeline is a parsed processing query: steps applied in order, each to
// the previous one's output, and an optional place to persist the result.
type Pipeline struct {
	Steps  []Step
	SaveAs *SaveAs // trailing saveas/<b64(bucket:key)>, nil if absent
}

// SaveAs is where a pipeline's result is also stored.
type SaveAs struct{ Bucket, Key string }

// Params are the typed parameters of a built-in fop: one of *ImageView2,
// *ImageMogr2, *Watermark, *Facecrop, ImageInfo and Exif.
type Params interface {
	// Name is the fop name as written in URLs ("imageView2").
	Name() string
	// String is the normalized spelling of the step, name included: equal
	// for equivalent spellings, so that results share one cache entry.
	String() string
	params() // only this package's types are built-in fops
}

// Step is one step of a pipeline: a built-in fop or a custom UFOP.
type Step struct {
	name   string
	args   string // verbatim for UFOPs, normalized for built-ins
	params Params // nil for UFOP steps
}

// NewStep returns the built-in step of p, as Parse would give it.
func NewStep(p Params) Step {
	return Step{name: p.Name(), args: strings.TrimPrefix(strings.TrimPrefix(p.String(), p.Name()), "/"), params: p}
}

// Name is the fop name.
func (s Step) Name() string { return s.name }

// Builtin reports whether the step is a built-in fop; other steps name a
// UFOP and run on its instances.
func (s Step) Builtin() bool { return s.params != nil }

// Params are the parameters of a built-in step; nil for a UFOP step.
func (s Step) Params() Params { return s.params }

// Args is the text after "name/": verbatim (still percent-encoded) for a
// UFOP step, normalized for a built-in one.
func (s Step) Args() string { return s.args }

// String is the normalized spelling of the step.
func (s Step) String() string {
	if s.params != nil {
		return s.params.String()
	}
	if s.args == "" {
		return s.name
	}
	return s.name + "/" + s.args
}

// String is the normalized spelling of the pipeline: equivalent spellings
// give the same string, so it serves as a result-cache key. A saveas target
// is kept, re-encoded without padding.
func (p Pipeline) String() string {
	var b strings.Builder
	for i, s := range p.Steps {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString(s.String())
	}
	if p.SaveAs != nil {
		b.WriteString("|saveas/")
		b.WriteString(base64.RawURLEncoding.EncodeToString([]byte(p.SaveAs.Bucket + ":" + p.SaveAs.Key)))
	}
	return b.String()
}

// ResultKey names the result of running p on the source whose ETag is
// sourceETag: 32 hex digits, equal for equivalent spellings of p. It is the
// one result-cache key: the gateway's ETag (quoted) and memory cache and the
// agent's disk cache all use it. Its inputs must not change: clients hold
// ETags made from it.
func ResultKey(sourceETag string, p Pipeline) string {
	sum := sha256.Sum256([]byte(sourceETag + "\x00" + p.String()))
	return hex.EncodeToString(sum[:16])
}

// builtinParsers maps each built-in fop to its parameter parser, which gets
// the percent-decoded "/"-separated parts after the name.
var builtinParsers = map[string]func(args []string) (Params, error){
	"imageView2": parseImageView2,
	"imageMogr2": parseImageMogr2,
	"imageInfo":  parseImageInfo,
	"exif":       parseExif,
	"facecrop":   parseFacecrop,
	"watermark":  parseWatermark,
}

// Builtins lists the built-in fop names, sorted.
func Builtins() []string {
	names := make([]string, 0, len(builtinParsers))
	for n := range builtinParsers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Parse parses the query part of a processing URL (without '?'), e.g.
// "imageView2/1/w/200/h/200|imageInfo" or "...|saveas/<b64>". Steps are
// separated by '|' (also accepted percent-encoded as %7C, which browsers
// send); each "/"-separated part of a built-in step is percent-decoded.
// A pipeline of more than maxSteps steps (saveas not counted) is refused
// with KindInvalid: the request, not the source, is over the limit.
// maxSteps <= 0 means DefaultMaxSteps.
func Parse(query string, maxSteps int) (Pipeline, error) {
	if maxSteps <= 0 {
		maxSteps = DefaultMaxSteps
	}
	if query == "" {
		return Pipeline{}, ufop.Errorf(ufop.KindInvalid, "the processing query is empty: name a fop such as imageView2/2/w/200")
	}
	parts := splitSteps(query)
	if len(parts) > maxSteps+1 {
		return Pipeline{}, ufop.Errorf(ufop.KindInvalid, "the pipeline has %d steps, more than the limit of %d", len(parts), maxSteps)
	}
	var p Pipeline
	for i, part := range parts {
		name, rest, _ := strings.Cut(part, "/")
		if name == "" {
			return Pipeline{}, ufop.Errorf(ufop.KindInvalid, "step %d of the pipeline is empty: remove the extra '|'", i+1)
		}
		if name == "saveas" {
			if i != len(parts)-1 {
				return Pipeline{}, ufop.Errorf(ufop.KindInvalid, "saveas must be the last step of the pipeline")
			}
			sa, err := parseSaveAs(rest)
			if err != nil {
				return Pipeline{}, err
			}
			p.SaveAs = sa
			continue
		}
		s, err := parseStep(name, rest)
		if err != nil {
			return Pipeline{}, err
		}
		p.Steps = append(p.Steps, s)
	}
	if len(p.Steps) == 0 {
		return Pipeline{}, ufop.Errorf(ufop.KindInvalid, "saveas needs a processing step before it")
	}
	if len(p.Steps) > maxSteps {
		return Pipeline{}, ufop.Errorf(ufop.KindInvalid, "the pipeline has %d steps, more than the limit of %d", len(p.Steps), maxSteps)
	}
	return p, nil
}

// splitSteps splits a query on '|' and on its percent-encoded form.
func splitSteps(query string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(query); i++ {
		switch {
		case query[i] == '|':
			parts = append(parts, query[start:i])
			start = i + 1
		case query[i] == '%' && i+2 < len(query) && query[i+1] == '7' && (query[i+2] == 'C' || query[i+2] == 'c'):
			parts = append(parts, query[start:i])
			start = i + 3
			i += 2
		}
	}
	return append(parts, query[start:])
}

// parseStep parses one step whose name and raw argument text are given.
func parseStep(name, rawArgs string) (Step, error) {
	dec, err := url.PathUnescape(name)
	if err != nil {
		return Step{}, ufop.Errorf(ufop.KindInvalid, "fop name %q is not valid percent-encoding", name)
	}
	name = dec
	parse, ok := builtinParsers[name]
	if !ok {
		for b := range builtinParsers {
			if strings.EqualFold(b, name) {
				return Step{}, ufop.Errorf(ufop.KindInvalid, "unknown fop %q: fop names are case-sensitive, did you mean %s?", name, b)
			}
		}
		if !ufop.ValidUFOPName(name) {
			return Step{}, ufop.Errorf(ufop.KindInvalid, "unknown fop %q", name)
		}
		return Step{name: name, args: rawArgs}, nil
	}
	var args []string
	if rawArgs != "" {
		args = strings.Split(rawArgs, "/")
		for i, a := range args {
			d, err := url.PathUnescape(a)
			if err != nil {
				return Step{}, ufop.Errorf(ufop.KindInvalid, "%s: parameter %q is not valid percent-encoding", name, a)
			}
			args[i] = d
		}
	}
	p, err := parse(args)
	if err != nil {
		return Step{}, err
	}
	return NewStep(p), nil
}

// parseSaveAs decodes saveas/<b64(bucket:key)>.
func parseSaveAs(raw string) (*SaveAs, error) {
	if raw == "" {
		return nil, ufop.Errorf(ufop.KindInvalid, "saveas: parameter is missing: append the URL-safe base64 of bucket:key")
	}
	unescaped, err := url.PathUnescape(raw)
	if err != nil {
		return nil, ufop.Errorf(ufop.KindInvalid, "saveas: parameter %q is not valid percent-encoding", raw)
	}
	dec, err := decodeB64(unescaped)
	if err != nil {
		return nil, ufop.Errorf(ufop.KindInvalid, "saveas: parameter %q is not URL-safe base64", raw)
	}
	bucket, key, ok := strings.Cut(dec, ":")
	if !ok || bucket == "" || key == "" {
		return nil, ufop.Errorf(ufop.KindInvalid, "saveas: parameter decodes to %q, not bucket:key", dec)
	}
	return &SaveAs{Bucket: bucket, Key: key}, nil
}

// decodeB64 decodes URL-safe base64 with optional padding (RFC 4648 §5),
// also accepting '+' and '/' from the standard alphabet, which users often
// send. s is already percent-decoded.
func decodeB64(s string) (string, error) {
	s = strings.TrimRight(s, "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Refs returns the other images the step reads ("bucket:key" or a URL, as
// written in the fop); nil for steps that read only their input and for
// UFOP steps.
func (s Step) Refs() []string {
	if w, ok := s.params.(*Watermark); ok {
		return w.refs()
	}
	return nil
}

// Refs returns every other image the pipeline's steps read, each once, in
// order of first use.
func (p Pipeline) Refs() []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range p.Steps {
		for _, r := range s.Refs() {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	return out
}
