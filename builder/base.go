package builder

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/distribution/reference"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/manifest"
)

// Owns reports whether the user building a UFOP also owns the UFOP named
// name. A nil Owns owns nothing.
type Owns func(name string) bool

// tagVersionRE is the tag of a built UFOP image: v<N>, N ≥ 1.
var tagVersionRE = regexp.MustCompile(`^v[1-9][0-9]{0,8}$`)

// normalizeBase parses an image reference the way the engine does and
// returns its canonical form (docker.io/library/busybox:latest). Digests
// are refused: an image is only ever named by tag, so that the allow-list
// and ownership checks see the same name the engine resolves.
func normalizeBase(ref string) (reference.NamedTagged, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, fmt.Errorf("%q is not a valid image reference", ref)
	}
	if _, ok := named.(reference.Digested); ok {
		return nil, fmt.Errorf("%q names a digest; name a base image by its tag", ref)
	}
	tagged, ok := reference.TagNameOnly(named).(reference.NamedTagged)
	if !ok {
		return nil, fmt.Errorf("%q has no tag", ref)
	}
	return tagged, nil
}

// baseAllowList is the canonical form of Config.BaseImages.
func baseAllowList(images []string) (map[string]bool, error) {
	allow := make(map[string]bool, len(images))
	for _, img := range images {
		img = strings.TrimSpace(img)
		if img == manifest.ScratchImage {
			continue
		}
		tagged, err := normalizeBase(img)
		if err != nil {
			return nil, err
		}
		allow[tagged.String()] = true
	}
	return allow, nil
}

// CheckBase decides whether a build may start FROM base (SPEC §4 image):
// scratch, an image of the operator's allow-list (Config.BaseImages), or
// an image of a UFOP the building user owns (<Repository>/<name>:v<N>).
// Anything else on the engine is refused, since it may be another
// tenant's private code. Names are compared in canonical form, so that
// docker.io/ufop/x, ufop/x:v1@sha256:… or localhost/ufop/x cannot pass for
// something they are not. It returns the familiar name the engine knows
// the image by (busybox:latest, ufop/x:v1).
func (b *Builder) CheckBase(base string, owns Owns) (string, error) {
	if base == manifest.ScratchImage {
		return manifest.ScratchImage, nil
	}
	tagged, err := normalizeBase(base)
	if err != nil {
		return "", ufop.Errorf(ufop.KindInvalid, "%s: field image: %v", manifest.ManifestFile, err)
	}
	familiar := reference.FamiliarString(tagged)
	if b.allow[tagged.String()] {
		return familiar, nil
	}
	if name, ok := b.ufopOf(tagged); ok && owns != nil && owns(name) {
		return familiar, nil
	}
	return "", ufop.Errorf(ufop.KindPermission,
		"%s: field image: base image %q is not allowed: use scratch, an image the operator allows (%s), or an image of a UFOP you own (%s/<name>:v<N>)",
		manifest.ManifestFile, base, b.allowedList(), b.cfg.Repository)
}

// ufopOf returns the UFOP name of a reference in the builder's own
// repository, <Repository>/<name>:v<N> on the default registry.
func (b *Builder) ufopOf(tagged reference.NamedTagged) (string, bool) {
	if reference.Domain(tagged) != b.repoDomain || !tagVersionRE.MatchString(tagged.Tag()) {
		return "", false
	}
	name, ok := strings.CutPrefix(reference.Path(tagged), b.repoPath+"/")
	if !ok || !ufop.ValidUFOPName(name) || !repositoryRE.MatchString(name) {
		return "", false
	}
	return name, true
}

func (b *Builder) allowedList() string {
	list := []string{manifest.ScratchImage}
	for _, img := range b.cfg.BaseImages {
		if img = strings.TrimSpace(img); img != manifest.ScratchImage {
			list = append(list, img)
		}
	}
	return strings.Join(list, ", ")
}
