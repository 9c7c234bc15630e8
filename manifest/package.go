package manifest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ufop/ufop"
)

// Package is a validated UFOP package ready to build: its files, held in
// memory (at most Limits.MaxPackageBytes of them), and its manifest with the
// configured resource defaults applied.
type Package struct {
	manifest Manifest
	entries  []*entry // sorted by name
	size     int64    // bytes of file content
}

// entry is one file, directory or symlink of a package.
type entry struct {
	name     string // clean, relative, slash-separated: "bin/handler"
	typ      byte   // tar.TypeReg, tar.TypeDir or tar.TypeSymlink
	mode     int64  // permission bits, normalized (see normalizeMode)
	link     string // symlink target, as written
	data     []byte
	implicit bool // a directory only implied by the paths below it
}

// Manifest returns the package's ufop.yaml, resource defaults applied.
func (p *Package) Manifest() Manifest { return p.manifest }

// Size returns the total bytes of the package's files.
func (p *Package) Size() int64 { return p.size }

// Files returns the number of entries (files, directories, links).
func (p *Package) Files() int { return len(p.entries) }

// canonicalTime is the modification time of every entry WriteTar writes, so
// that the same package always gives the same bytes (and build cache hits).
var canonicalTime = time.Unix(0, 0).UTC()

// WriteTar writes the package as a canonical, uncompressed tar: entries in
// name order, owned by 0:0, fixed times and normalized modes. This is what
// ufopctl uploads and what the image build context holds.
func (p *Package) WriteTar(w io.Writer) error {
	return p.WriteTarTo(tar.NewWriter(w), "")
}

// WriteTarTo writes the entries under prefix ("" or "pkg/") and closes tw;
// the builder puts them beside its Dockerfile.
func (p *Package) WriteTarTo(tw *tar.Writer, prefix string) error {
	for _, e := range p.entries {
		hdr := &tar.Header{
			Typeflag: e.typ,
			Name:     prefix + e.name,
			Mode:     e.mode,
			ModTime:  canonicalTime,
			Format:   tar.FormatPAX,
		}
		switch e.typ {
		case tar.TypeDir:
			hdr.Name += "/"
		case tar.TypeSymlink:
			hdr.Linkname = e.link
		case tar.TypeReg:
			hdr.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("package: write %s: %w", e.name, err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write(e.data); err != nil {
				return fmt.Errorf("package: write %s: %w", e.name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("package: finish tar: %w", err)
	}
	return nil
}

// ReadPackage reads and validates a package from a .tar or .tar.gz stream
// (gzip is recognised by its magic bytes). It stops reading as soon as the
// stream, compressed or not, passes cfg.MaxPackageBytes.
func ReadPackage(r io.Reader, cfg Limits) (*Package, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	limit := &capReader{r: r, left: cfg.MaxPackageBytes, what: "package", max: cfg.MaxPackageBytes}
	br := bufio.NewReader(limit)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			if e := asUfop(err); e != nil {
				return nil, e
			}
			return nil, ufop.Errorf(ufop.KindInvalid, "package: not a valid gzip stream: %v", err)
		}
		defer zr.Close()
		zr.Multistream(false)
		// The unpacked tar is capped too, so a small gzip bomb cannot make
		// us inflate gigabytes. Headers and padding need a little slack over
		// the file contents, which are capped separately.
		slack := int64(cfg.MaxFiles) * 1024
		src = &capReader{r: zr, left: cfg.MaxPackageBytes + slack, what: "unpacked package", max: cfg.MaxPackageBytes}
	}
	c := newCollector(cfg)
	tr := tar.NewReader(src)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, readErr(err)
		}
		if err := c.count(hdr.Name); err != nil {
			return nil, err
		}
		switch hdr.Typeflag {
		case tar.TypeXGlobalHeader: // git archive's pax_global_header: metadata only
			continue
		case tar.TypeReg, tar.TypeRegA:
			err = c.addFile(hdr.Name, hdr.Mode, hdr.Size, tr)
		case tar.TypeDir:
			err = c.addDir(hdr.Name)
		case tar.TypeSymlink:
			err = c.addSymlink(hdr.Name, hdr.Linkname)
		case tar.TypeLink:
			err = c.addHardLink(hdr.Name, hdr.Linkname)
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			err = entryErr(hdr.Name, "device and fifo files are not allowed")
		default:
			err = entryErr(hdr.Name, fmt.Sprintf("unsupported tar entry type %q", hdr.Typeflag))
		}
		if err != nil {
			return nil, readErr(err)
		}
	}
	return c.finish()
}

// ReadDir reads and validates a package from a directory with the same
// rules as ReadPackage. Symlinks are read as links, never followed; special
// files are refused.
func ReadDir(dir string, cfg Limits) (*Package, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// The root itself may be a symlink (the user named it); nothing below
	// it is followed.
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, ufop.Errorf(ufop.KindInvalid, "package: cannot read directory %s: %w", dir, err)
	}
	dir = resolved
	root, err := os.Stat(dir)
	if err != nil {
		return nil, ufop.Errorf(ufop.KindInvalid, "package: cannot read directory %s: %w", dir, err)
	}
	if !root.IsDir() {
		return nil, ufop.Errorf(ufop.KindInvalid, "package: %s is not a directory", dir)
	}
	c := newCollector(cfg)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return ufop.Errorf(ufop.KindInvalid, "package: cannot read %s: %w", p, err)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return fmt.Errorf("package: %s: %w", p, err)
		}
		if rel == "." {
			return nil
		}
		name := filepath.ToSlash(rel)
		if err := c.count(name); err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return ufop.Errorf(ufop.KindInvalid, "package: cannot read %s: %w", p, err)
		}
		switch mode := info.Mode(); {
		case mode.IsDir():
			return c.addDir(name)
		case mode.IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return ufop.Errorf(ufop.KindInvalid, "package: cannot read %s: %w", p, err)
			}
			defer f.Close()
			return c.addFile(name, int64(mode.Perm()), info.Size(), f)
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return ufop.Errorf(ufop.KindInvalid, "package: cannot read link %s: %w", p, err)
			}
			return c.addSymlink(name, target)
		default:
			return entryErr(name, "device, fifo and socket files are not allowed")
		}
	})
	if err != nil {
		return nil, err
	}
	return c.finish()
}

// collector accumulates and checks entries; finish checks the package as a
// whole.
type collector struct {
	cfg     Limits
	byName  map[string]*entry
	headers int
	size    int64
}

func newCollector(cfg Limits) *collector {
	return &collector{cfg: cfg, byName: make(map[string]*entry)}
}

func entryErr(name, msg string) error {
	return ufop.Errorf(ufop.KindInvalid, "package: entry %q: %s", name, msg)
}

// count bounds the number of entries, whatever their type.
func (c *collector) count(name string) error {
	c.headers++
	if c.headers > c.cfg.MaxFiles {
		return ufop.Errorf(ufop.KindTooLarge, "package: more than %d entries (at entry %q)", c.cfg.MaxFiles, name)
	}
	return nil
}

// cleanName validates an entry name and returns it relative, slash-separated
// and clean; "" is the package root.
func cleanName(name string) (string, error) {
	switch {
	case name == "":
		return "", entryErr(name, "empty name")
	case strings.ContainsRune(name, 0):
		return "", entryErr(name, "name contains a NUL byte")
	case strings.HasPrefix(name, "/"):
		return "", entryErr(name, "absolute paths are not allowed")
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", entryErr(name, "path has a .. component")
		}
	}
	clean := path.Clean(name)
	if clean == "." {
		return "", nil
	}
	return clean, nil
}

// addParents makes sure every ancestor of name is a directory, creating
// implicit ones: "a/b" is allowed before (or without) "a/".
func (c *collector) addParents(orig, name string) error {
	for i := 0; i < len(name); i++ {
		if name[i] != '/' {
			continue
		}
		dir := name[:i]
		switch e := c.byName[dir]; {
		case e == nil:
			c.byName[dir] = &entry{name: dir, typ: tar.TypeDir, mode: 0o755, implicit: true}
		case e.typ == tar.TypeSymlink:
			return entryErr(orig, fmt.Sprintf("path goes through the symlink %q", dir))
		case e.typ != tar.TypeDir:
			return entryErr(orig, fmt.Sprintf("parent %q is not a directory", dir))
		}
	}
	return nil
}

// claim checks that name is new and its parents are directories.
func (c *collector) claim(orig, name string, dir bool) error {
	if name == "" {
		if dir {
			return nil
		}
		return entryErr(orig, "names the package root but is not a directory")
	}
	if e := c.byName[name]; e != nil {
		if e.implicit && dir {
			e.implicit = false
			return nil
		}
		if e.implicit {
			return entryErr(orig, "is a directory of other entries but is not one itself")
		}
		return entryErr(orig, "duplicate entry")
	}
	return c.addParents(orig, name)
}

func (c *collector) addDir(orig string) error {
	name, err := cleanName(orig)
	if err != nil {
		return err
	}
	if err := c.claim(orig, name, true); err != nil {
		return err
	}
	if name != "" && c.byName[name] == nil {
		c.byName[name] = &entry{name: name, typ: tar.TypeDir, mode: 0o755}
	}
	return nil
}

func (c *collector) addFile(orig string, mode, size int64, body io.Reader) error {
	name, err := cleanName(orig)
	if err != nil {
		return err
	}
	if err := c.claim(orig, name, false); err != nil {
		return err
	}
	if size < 0 || c.size+size > c.cfg.MaxPackageBytes {
		return ufop.Errorf(ufop.KindTooLarge, "package: unpacked files over the %s limit (at entry %q)", ufop.FormatBytes(c.cfg.MaxPackageBytes), orig)
	}
	// Grow with the data actually read rather than trusting the header's
	// size for an allocation.
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(body, size+1))
	if err != nil {
		return err
	}
	if n != size {
		return entryErr(orig, fmt.Sprintf("size changed while reading: want %d bytes, got %d", size, n))
	}
	c.size += size
	c.byName[name] = &entry{name: name, typ: tar.TypeReg, mode: normalizeMode(mode), data: buf.Bytes()}
	return nil
}

// normalizeMode keeps whether a file is executable and nothing else. The
// image's files are owned by root while instances run as nobody, so every
// file must be world-readable; setuid bits have no business in a package.
func normalizeMode(mode int64) int64 {
	if mode&0o111 != 0 {
		return 0o755
	}
	return 0o644
}

func (c *collector) addSymlink(orig, target string) error {
	name, err := cleanName(orig)
	if err != nil {
		return err
	}
	switch {
	case target == "":
		return entryErr(orig, "symlink with an empty target")
	case strings.ContainsRune(target, 0):
		return entryErr(orig, "symlink target contains a NUL byte")
	case path.IsAbs(target):
		return entryErr(orig, fmt.Sprintf("symlink to %q points outside the package (absolute target)", target))
	}
	if err := c.claim(orig, name, false); err != nil {
		return err
	}
	// A lexical check now gives the early, obvious error; finish resolves
	// through the other symlinks once all of them are known.
	if escapes(path.Join(path.Dir(name), target)) {
		return entryErr(orig, fmt.Sprintf("symlink to %q points outside the package", target))
	}
	c.byName[name] = &entry{name: name, typ: tar.TypeSymlink, mode: 0o777, link: target}
	return nil
}

// escapes reports whether a path.Join result leaves the package root.
func escapes(joined string) bool {
	return joined == ".." || strings.HasPrefix(joined, "../") || path.IsAbs(joined)
}

// addHardLink stores a hard link as a copy of its target, which must be a
// regular file earlier in the package; copies count towards the size limit.
func (c *collector) addHardLink(orig, target string) error {
	name, err := cleanName(orig)
	if err != nil {
		return err
	}
	to, err := cleanName(target)
	if err != nil || to == "" {
		return entryErr(orig, fmt.Sprintf("hard link to %q points outside the package", target))
	}
	t := c.byName[to]
	if t == nil || t.typ != tar.TypeReg {
		return entryErr(orig, fmt.Sprintf("hard link to %q, which is not a regular file earlier in the package", target))
	}
	if err := c.claim(orig, name, false); err != nil {
		return err
	}
	size := int64(len(t.data))
	if c.size+size > c.cfg.MaxPackageBytes {
		return ufop.Errorf(ufop.KindTooLarge, "package: unpacked files over the %s limit (at entry %q)", ufop.FormatBytes(c.cfg.MaxPackageBytes), orig)
	}
	c.size += size
	c.byName[name] = &entry{name: name, typ: tar.TypeReg, mode: t.mode, data: t.data}
	return nil
}

// maxLinkHops bounds symlink resolution, like the kernel's ELOOP.
const maxLinkHops = 40

var (
	errEscape = errors.New("escapes")
	errLoop   = errors.New("loop")
)

// resolve follows p (relative to the root) through the package's symlinks
// and returns where it lands, or errEscape if it leaves the root on the way.
func (c *collector) resolve(p string, hops *int) ([]string, error) {
	var cur []string
	for _, part := range strings.Split(p, "/") {
		switch part {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return nil, errEscape
			}
			cur = cur[:len(cur)-1]
			continue
		}
		cur = append(cur, part)
		e := c.byName[strings.Join(cur, "/")]
		if e == nil || e.typ != tar.TypeSymlink {
			continue
		}
		if *hops++; *hops > maxLinkHops {
			return nil, errLoop
		}
		if path.IsAbs(e.link) {
			return nil, errEscape
		}
		// Not path.Join: cleaning "link/.." lexically would skip the link.
		next, err := c.resolve(strings.Join(cur[:len(cur)-1], "/")+"/"+e.link, hops)
		if err != nil {
			return nil, err
		}
		cur = next
	}
	return cur, nil
}

func (c *collector) finish() (*Package, error) {
	p := &Package{size: c.size, entries: make([]*entry, 0, len(c.byName))}
	for _, e := range c.byName {
		p.entries = append(p.entries, e)
	}
	sort.Slice(p.entries, func(i, j int) bool { return p.entries[i].name < p.entries[j].name })
	for _, e := range p.entries {
		if e.typ != tar.TypeSymlink {
			continue
		}
		hops := 0
		_, err := c.resolve(path.Dir(e.name)+"/"+e.link, &hops)
		switch {
		case errors.Is(err, errEscape):
			return nil, entryErr(e.name, fmt.Sprintf("symlink to %q points outside the package", e.link))
		case errors.Is(err, errLoop):
			return nil, entryErr(e.name, fmt.Sprintf("symlink to %q loops", e.link))
		}
	}
	mf := c.byName[ManifestFile]
	switch {
	case mf == nil:
		return nil, ufop.Errorf(ufop.KindInvalid, "package: %s missing at the package root", ManifestFile)
	case mf.typ != tar.TypeReg:
		return nil, entryErr(ManifestFile, "must be a regular file")
	}
	m, err := ParseManifest(mf.data)
	if err != nil {
		return nil, err
	}
	if m.Image == ScratchImage {
		if err := c.checkEntrypoint(m.Run[0]); err != nil {
			return nil, err
		}
	}
	m.Resources = m.Resources.withDefaults(c.cfg.DefaultResources)
	p.manifest = m
	return p, nil
}

// checkEntrypoint makes sure that, on an empty base image, the program run
// names is an executable of the package: otherwise the image builds fine
// and every instance fails to start with an engine error.
func (c *collector) checkEntrypoint(prog string) error {
	var rel string
	switch {
	case strings.HasPrefix(prog, "/app/"):
		rel = strings.TrimPrefix(prog, "/app/")
	case path.IsAbs(prog):
		return fieldErrInvalid("run", fmt.Sprintf("%s is outside the package; with image scratch only the package's files exist, under /app", prog))
	case !strings.Contains(prog, "/"):
		return fieldErrInvalid("run", fmt.Sprintf("%s would be looked up in $PATH, which is empty on image scratch; write ./%s", prog, prog))
	default:
		rel = prog
	}
	hops := 0
	target, err := c.resolve(rel, &hops)
	var e *entry
	if err == nil {
		e = c.byName[strings.Join(target, "/")]
	}
	switch {
	case e == nil:
		return fieldErrInvalid("run", fmt.Sprintf("%s is not a file of the package", prog))
	case e.typ != tar.TypeReg || e.mode&0o111 == 0:
		return fieldErrInvalid("run", fmt.Sprintf("%s is not an executable file (chmod +x it before packaging)", prog))
	}
	return nil
}

func fieldErrInvalid(field, msg string) error {
	return ufop.Errorf(ufop.KindInvalid, "%s: field %s: %s", ManifestFile, field, msg)
}

// capReader fails with KindTooLarge once more than max bytes have been read
// through it; it never reads past the limit from r.
type capReader struct {
	r    io.Reader
	left int64 // bytes still allowed; the extra one detects overflow
	max  int64
	what string
	over bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.over {
		return 0, c.err()
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	if int64(n) > c.left {
		c.over = true
		return int(c.left), c.err()
	}
	c.left -= int64(n)
	return n, err
}

func (c *capReader) err() error {
	return ufop.Errorf(ufop.KindTooLarge, "%s: over the %s limit", c.what, ufop.FormatBytes(c.max))
}

func asUfop(err error) error {
	var e *ufop.Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// readErr turns a tar or gzip failure into a user error; our own errors
// (limits, entry checks) pass through.
func readErr(err error) error {
	if e := asUfop(err); e != nil {
		return e
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return ufop.Errorf(ufop.KindInvalid, "package: truncated archive")
	}
	if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) {
		return ufop.Errorf(ufop.KindInvalid, "package: corrupt gzip data")
	}
	return ufop.Errorf(ufop.KindInvalid, "package: not a valid tar archive: %v", err)
}
