package builder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/manifest"
)

// Config bounds what the builder accepts and how it builds.
type Config struct {
	// Limits bound the packages it accepts (package size and file count,
	// default resources).
	manifest.Limits
	// BuildTimeout bounds one image build.
	BuildTimeout time.Duration
	// BuildMemory caps the memory of build_script steps.
	BuildMemory int64
	// Repository is the image repository prefix: images are tagged
	// <Repository>/<name>:v<version>. Tests use their own.
	Repository string
	// BaseImages are the images, besides scratch and the building user's
	// own UFOP images, that ufop.yaml may name as its base (CheckBase).
	// Any other image on the engine may be another tenant's code.
	BaseImages []string
}

// DefaultConfig returns the defaults of SPEC §4.
func DefaultConfig() Config {
	return Config{
		Limits:       manifest.DefaultLimits(),
		BuildTimeout: 10 * time.Minute,
		BuildMemory:  1 << 30,
		Repository:   "ufop",
	}
}

var repositoryRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// Validate reports the first unusable setting.
func (c Config) Validate() error {
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	switch {
	case c.BuildTimeout <= 0:
		return ufop.Errorf(ufop.KindInvalid, "builder: BuildTimeout must be positive, got %s", c.BuildTimeout)
	case c.BuildMemory < manifest.MinMemory:
		return ufop.Errorf(ufop.KindInvalid, "builder: BuildMemory must be at least %d bytes, got %d", manifest.MinMemory, c.BuildMemory)
	case !repositoryRE.MatchString(c.Repository):
		return ufop.Errorf(ufop.KindInvalid, "builder: Repository %q is not a valid image repository name", c.Repository)
	}
	if _, err := baseAllowList(c.BaseImages); err != nil {
		return ufop.Errorf(ufop.KindInvalid, "builder: BaseImages: %v", err)
	}
	return nil
}

// DockerAPI is the part of the Docker Engine client the builder uses;
// *client.Client implements it.
type DockerAPI interface {
	ImageBuild(ctx context.Context, buildContext io.Reader, options build.ImageBuildOptions) (build.ImageBuildResponse, error)
	ImageInspect(ctx context.Context, imageID string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
}

// Builder builds packages into images on one Docker engine. It is safe for
// concurrent use; the engine serializes what it must.
type Builder struct {
	cfg    Config
	docker DockerAPI
	log    *slog.Logger

	allow      map[string]bool // canonical BaseImages
	repoDomain string          // where Repository's images live, canonically
	repoPath   string
}

// Image is a built image.
type Image struct {
	Ref      string // <repository>/<name>:v<version>
	ID       string // sha256:...
	Size     int64
	Manifest manifest.Manifest
	BuiltAt  time.Time
}

// New returns a Builder using docker.
func New(cfg Config, docker DockerAPI, logger *slog.Logger) (*Builder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if docker == nil {
		return nil, errors.New("builder: nil Docker client")
	}
	if logger == nil {
		return nil, errors.New("builder: nil logger")
	}
	allow, _ := baseAllowList(cfg.BaseImages) // Validate checked it
	repo, err := reference.ParseNormalizedNamed(cfg.Repository + "/x")
	if err != nil {
		return nil, fmt.Errorf("builder: repository %q: %w", cfg.Repository, err)
	}
	return &Builder{cfg: cfg, docker: docker, log: logger, allow: allow,
		repoDomain: reference.Domain(repo), repoPath: strings.TrimSuffix(reference.Path(repo), "/x")}, nil
}

// Config returns the builder's configuration (ReadPackage needs it).
func (b *Builder) Config() Config { return b.cfg }

// Ref returns the image reference of a UFOP version.
func (b *Builder) Ref(name string, version int) string {
	return fmt.Sprintf("%s/%s:v%d", b.cfg.Repository, name, version)
}

// Build generates the Dockerfile for pkg, builds it through the Engine API
// and tags it <Repository>/<name>:v<version>. The build log, one line per
// engine message, goes to log as it arrives. Errors a user can fix (a base
// image that is not there, a failing build_script) are KindInvalid with the
// engine's message; a base image CheckBase refuses is KindPermission.
// owns says which UFOPs the building user owns.
func (b *Builder) Build(ctx context.Context, name string, version int, pkg *manifest.Package, owns Owns, log io.Writer) (Image, error) {
	// A Docker repository path component additionally cannot start or
	// end with a separator or hold "___".
	if !ufop.ValidUFOPName(name) || !repositoryRE.MatchString(name) {
		return Image{}, ufop.Errorf(ufop.KindInvalid, "build: name %q must be 5-20 characters of a-z 0-9 _ -, starting and ending with a letter or digit", name)
	}
	if version < 1 {
		return Image{}, ufop.Errorf(ufop.KindInvalid, "build: version must be 1 or more, got %d", version)
	}
	if log == nil {
		log = io.Discard
	}
	ref := b.Ref(name, version)
	m := pkg.Manifest()
	logger := b.log.With("ref", ref)
	ctx, cancel := context.WithTimeout(ctx, b.cfg.BuildTimeout)
	defer cancel()

	base, err := b.CheckBase(m.Image, owns)
	if err != nil {
		logger.Warn("base image refused", "base", m.Image)
		return Image{}, err
	}
	from := m
	if base != manifest.ScratchImage {
		insp, err := b.docker.ImageInspect(ctx, base)
		if err != nil && !cerrdefs.IsNotFound(err) {
			return Image{}, b.engineErr(ctx, "inspect base image", err)
		}
		// The engine falls back to an image ID prefix when no image has
		// the name: only an image tagged with it is the one checked.
		if err != nil || !slices.Contains(insp.RepoTags, base) {
			return Image{}, ufop.Errorf(ufop.KindInvalid, "%s: field image: %q is not on the build engine, and images are never pulled; build it first or use scratch", manifest.ManifestFile, m.Image)
		}
		// FROM the ID checked, so that a tag moved meanwhile changes nothing.
		m.Image, from.Image = base, insp.ID
	}
	manifestJSON, err := json.Marshal(m)
	if err != nil {
		return Image{}, fmt.Errorf("build %s: encode manifest: %w", ref, err)
	}
	dockerfile := Dockerfile(from)

	// Stream the context: Dockerfile at the root, the package under pkg/
	// so that no package file can collide with (or .dockerignore) ours.
	pr, pw := io.Pipe()
	writeDone := make(chan error, 1)
	go func() {
		err := writeContext(pw, dockerfile, pkg)
		pw.CloseWithError(err)
		writeDone <- err
	}()
	// The writer goroutine ends once the reader side is closed, whatever
	// the engine did with it.
	defer func() {
		pr.Close()
		<-writeDone
	}()

	start := time.Now()
	logger.Info("image build started", "base", m.Image, "files", pkg.Files(), "bytes", pkg.Size())
	resp, err := b.docker.ImageBuild(ctx, pr, build.ImageBuildOptions{
		Tags:        []string{ref},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		PullParent:  false,
		NetworkMode: "none", // build scripts get no network
		Memory:      b.cfg.BuildMemory,
		MemorySwap:  b.cfg.BuildMemory,
		Labels: map[string]string{
			manifest.LabelName:     name,
			manifest.LabelVersion:  strconv.Itoa(version),
			manifest.LabelManifest: string(manifestJSON),
		},
		Version: build.BuilderV1, // the classic builder: no BuildKit session needed
	})
	if err != nil {
		return Image{}, b.engineErr(ctx, "start build", err)
	}
	defer resp.Body.Close()
	if err := copyBuildLog(resp.Body, log); err != nil {
		var je *jsonmessage.JSONError
		if errors.As(err, &je) {
			logger.Info("image build failed", "err", je.Message, "elapsed", time.Since(start))
			return Image{}, ufop.Errorf(ufop.KindInvalid, "build: %s", strings.TrimSpace(je.Message))
		}
		return Image{}, b.engineErr(ctx, "read build log", err)
	}
	insp, err := b.docker.ImageInspect(ctx, ref)
	if err != nil {
		return Image{}, b.engineErr(ctx, "inspect built image", err)
	}
	img := Image{Ref: ref, ID: insp.ID, Size: insp.Size, Manifest: m, BuiltAt: time.Now().UTC()}
	if t, err := time.Parse(time.RFC3339Nano, insp.Created); err == nil {
		img.BuiltAt = t.UTC()
	}
	logger.Info("image build finished", "id", img.ID, "size", img.Size, "elapsed", time.Since(start))
	return img, nil
}

// engineErr classifies a failure talking to the engine.
func (b *Builder) engineErr(ctx context.Context, what string, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return ufop.Errorf(ufop.KindTimeout, "build: did not finish within %s", b.cfg.BuildTimeout)
	case ctx.Err() != nil:
		return fmt.Errorf("build: %s: %w", what, ctx.Err())
	case client.IsErrConnectionFailed(err):
		return &ufop.Error{Kind: ufop.KindUnavailable, Msg: "build: the build engine is unavailable; try again later", Err: err}
	}
	return fmt.Errorf("build: %s: %w", what, err)
}

// copyBuildLog decodes the engine's JSON message stream and writes one line
// per message. A build failure comes back as a *jsonmessage.JSONError.
func copyBuildLog(r io.Reader, w io.Writer) error {
	dec := json.NewDecoder(r)
	for {
		var msg jsonmessage.JSONMessage
		if err := dec.Decode(&msg); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if msg.Error != nil {
			return msg.Error
		}
		if msg.ErrorMessage != "" {
			return &jsonmessage.JSONError{Message: msg.ErrorMessage}
		}
		line := msg.Stream
		if line == "" {
			line = strings.TrimSpace(strings.Join([]string{msg.ID, msg.Status, msg.ProgressMessage}, " "))
		}
		if line = strings.TrimRight(line, "\r\n"); strings.TrimSpace(line) == "" {
			continue
		}
		// A log writer failing (a client went away) must not fail the build.
		_, _ = io.WriteString(w, line+"\n")
	}
}
