package migrate

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ufop/ufop"
)

// dirSource reads a local directory tree (file:///DIR, admins only): a
// file's key is its path below DIR with '/' separators.
type dirSource struct{ dir string }

func newDirSource(dir string) (*dirSource, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, ufop.Errorf(ufop.KindNotFound, "source file://%s: %v", dir, pathErr(err))
	}
	if !st.IsDir() {
		return nil, ufop.Errorf(ufop.KindInvalid, "source file://%s is not a directory", dir)
	}
	return &dirSource{dir: dir}, nil
}

func pathErr(err error) error {
	var pe *fs.PathError
	if e, ok := err.(*fs.PathError); ok {
		pe = e
		return pe.Err
	}
	return err
}

func (d *dirSource) Sorted() bool { return true }
func (d *dirSource) Close() error { return nil }

// Page walks the tree in key order from after the key pos. Each page walks
// from the root again but skips whole directories at or before pos, so it
// holds one directory's names at a time, never the key set.
func (d *dirSource) Page(ctx context.Context, pos string, limit int) ([]Entry, string, bool, error) {
	var out []Entry
	full := false
	var walk func(rel string) error
	walk = func(rel string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		ents, err := os.ReadDir(filepath.Join(d.dir, filepath.FromSlash(rel)))
		if err != nil {
			return ufop.Errorf(ufop.KindUnavailable, "source file://%s: %v", d.dir, err)
		}
		// Key order: a directory "a" sorts as "a/", after "a-b" and
		// before "a0".
		name := func(e fs.DirEntry) string {
			if e.IsDir() {
				return e.Name() + "/"
			}
			return e.Name()
		}
		slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(name(a), name(b)) })
		for _, e := range ents {
			key := rel + name(e)
			if e.IsDir() {
				// Skip a directory whose every key is at or before pos.
				if pos != "" && key < pos && !strings.HasPrefix(pos, key) {
					continue
				}
				if err := walk(key); err != nil || full {
					return err
				}
				continue
			}
			if key <= pos || !e.Type().IsRegular() {
				continue
			}
			if len(out) == limit {
				full = true
				return nil
			}
			info, err := e.Info()
			if err != nil {
				continue // gone meanwhile
			}
			out = append(out, Entry{Key: key, Size: info.Size()})
		}
		return nil
	}
	if err := walk(""); err != nil {
		return nil, "", false, err
	}
	next := pos
	if len(out) > 0 {
		next = out[len(out)-1].Key
	}
	return out, next, !full, nil
}

func (d *dirSource) Open(ctx context.Context, key string) (io.ReadCloser, Entry, error) {
	if strings.Contains("/"+key+"/", "/../") || strings.HasPrefix(key, "/") {
		return nil, Entry{}, ufop.Errorf(ufop.KindInvalid, "source key %q leaves the directory", key)
	}
	f, err := os.Open(filepath.Join(d.dir, filepath.FromSlash(key)))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, Entry{}, ufop.Errorf(ufop.KindNotFound, "source file://%s: no such file %q", d.dir, key)
		}
		return nil, Entry{}, ufop.Errorf(ufop.KindUnavailable, "source file://%s: %v", d.dir, pathErr(err))
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, Entry{}, ufop.Errorf(ufop.KindNotFound, "source file://%s: %q is not a regular file", d.dir, key)
	}
	return f, Entry{Key: key, Size: st.Size()}, nil
}
