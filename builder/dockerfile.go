package builder

// Dockerfile generation: a manifest and a package become a build context
// (a tar holding the Dockerfile and the package). Pure, no engine.

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ufop/ufop/manifest"
)

// Dockerfile returns the Dockerfile that builds a package with manifest m
// from a context holding the package under pkg/. The configuration comes
// before COPY so that the engine's cache reuses those steps across versions
// of a UFOP; each step the classic builder runs again costs a container.
// build_script runs as root (it may chmod the package), then USER drops
// privileges for the instance.
func Dockerfile(m manifest.Manifest) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "FROM %s\n", m.Image)
	sb.WriteString("WORKDIR /app\n")
	sb.WriteString("ENV")
	for _, k := range slices.Sorted(maps.Keys(m.Env)) {
		fmt.Fprintf(&sb, " %s=%s", k, envQuote(m.Env[k]))
	}
	fmt.Fprintf(&sb, " PORT_HTTP=%d\n", manifest.PortHTTP)
	fmt.Fprintf(&sb, "EXPOSE %d\n", manifest.PortHTTP)
	fmt.Fprintf(&sb, "ENTRYPOINT %s\n", jsonArray(m.Run))
	sb.WriteString("COPY pkg/ /app/\n")
	for _, step := range m.BuildScript {
		// Exec form around sh -c: JSON quoting copes with any step text,
		// newlines included, where the shell form would not.
		fmt.Fprintf(&sb, "RUN %s\n", jsonArray([]string{"/bin/sh", "-c", step}))
	}
	sb.WriteString("USER 65534:65534\n")
	return sb.String()
}

func jsonArray(args []string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(args) // []string always encodes
	return strings.TrimSpace(buf.String())
}

// envQuote quotes a value for a Dockerfile ENV instruction, where a double
// quoted word takes \" \\ and \$ as escapes and expands $VAR otherwise.
func envQuote(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`)
	return `"` + r.Replace(v) + `"`
}

// canonicalTime is the modification time of the Dockerfile in the build
// context, the one manifest.Package.WriteTarTo gives every entry, so the
// same package always gives the same context (and build cache hits).
var canonicalTime = time.Unix(0, 0).UTC()

// writeContext writes the build context tar: the Dockerfile and the
// package under pkg/.
func writeContext(w io.Writer, dockerfile string, pkg *manifest.Package) error {
	tw := tar.NewWriter(w)
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile)), ModTime: canonicalTime}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	if _, err := io.WriteString(tw, dockerfile); err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "pkg/", Mode: 0o755, ModTime: canonicalTime}); err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	return pkg.WriteTarTo(tw, "pkg/")
}
