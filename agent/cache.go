package agent

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ufop/ufop/internal/lru"
)

// diskCache is a byte-bounded LRU of files in one directory. It survives
// restarts: on open it rebuilds its index from the files, oldest access
// (mtime) first. Entries carry a checksum, so a file torn by a crash reads
// as a miss, not as garbage.
type diskCache struct {
	dir    string
	max    int64
	logger *slog.Logger

	mu  sync.Mutex
	lru *lru.Cache[string, *cacheEntry] // by file name
}

type cacheEntry struct {
	name    string
	size    int64
	touched time.Time
}

// cacheMeta is stored before an entry's body.
type cacheMeta struct {
	CRC         uint32            `json:"crc"`
	ContentType string            `json:"ct,omitempty"`
	Header      map[string]string `json:"h,omitempty"`
}

const tempPrefix = ".tmp-"

func openDiskCache(dir string, max int64, logger *slog.Logger) (*diskCache, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("agent: cache dir: %w", err)
	}
	c := &diskCache{dir: dir, max: max, logger: logger, lru: lru.New[string, *cacheEntry](max)}
	var found []*cacheEntry
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasPrefix(d.Name(), tempPrefix) {
			return os.Remove(path) // a write cut short by a crash
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		found = append(found, &cacheEntry{name: d.Name(), size: info.Size(), touched: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("agent: scan cache %s: %w", dir, err)
	}
	// Oldest access first, so the most recent end up most recent and the
	// oldest go first when the files are over the budget.
	slices.SortFunc(found, func(a, b *cacheEntry) int { return a.touched.Compare(b.touched) })
	c.mu.Lock()
	for _, e := range found {
		c.evictLocked(c.lru.Add(e.name, e, e.size))
	}
	c.mu.Unlock()
	return c, nil
}

func (c *diskCache) path(name string) string {
	// Fan out over 256 directories so no directory grows huge.
	return filepath.Join(c.dir, name[:2], name)
}

// Get returns an entry's body and metadata, or ok=false.
func (c *diskCache) Get(name string) (body []byte, meta cacheMeta, ok bool) {
	c.mu.Lock()
	e, hit := c.lru.Get(name)
	var touch bool
	if hit {
		// Keep mtime roughly in step with use, for the order after a
		// restart, without a syscall on every hit.
		if now := time.Now(); now.Sub(e.touched) > time.Minute {
			e.touched, touch = now, true
		}
	}
	c.mu.Unlock()
	if !hit {
		return nil, meta, false
	}
	p := c.path(name)
	raw, err := os.ReadFile(p)
	if err == nil {
		body, meta, err = decodeEntry(raw)
	}
	if err != nil {
		c.logger.Warn("cache entry unreadable, dropping it", "name", name, "err", err)
		c.remove(name)
		return nil, meta, false
	}
	if touch {
		now := time.Now()
		_ = os.Chtimes(p, now, now)
	}
	return body, meta, true
}

// Put stores an entry and evicts the least recently used ones past the
// budget. Entries larger than a quarter of the budget are not kept.
func (c *diskCache) Put(name string, body []byte, meta cacheMeta) error {
	if int64(len(body)) > c.max/4 {
		return nil
	}
	meta.CRC = crc32.ChecksumIEEE(body)
	mb, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	p := c.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), tempPrefix+"*")
	if err != nil {
		return err
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(mb)))
	_, err = f.Write(hdr[:])
	if err == nil {
		_, err = f.Write(mb)
	}
	if err == nil {
		_, err = f.Write(body)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("agent: cache put: %w", err)
	}
	size := int64(4 + len(mb) + len(body))
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evictLocked(c.lru.Add(name, &cacheEntry{name: name, size: size, touched: time.Now()}, size))
	return nil
}

// evictLocked removes the files of entries the index let go.
func (c *diskCache) evictLocked(evicted []lru.Entry[string, *cacheEntry]) {
	for _, e := range evicted {
		if err := os.Remove(c.path(e.Key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.logger.Warn("cache evict", "name", e.Key, "err", err)
		}
	}
}

func (c *diskCache) remove(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(name)
	os.Remove(c.path(name))
}

// Size returns the bytes held.
func (c *diskCache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Size()
}

func decodeEntry(raw []byte) ([]byte, cacheMeta, error) {
	var meta cacheMeta
	if len(raw) < 4 {
		return nil, meta, errors.New("short entry")
	}
	n := int(binary.BigEndian.Uint32(raw))
	if n > len(raw)-4 {
		return nil, meta, errors.New("short entry")
	}
	if err := json.Unmarshal(raw[4:4+n], &meta); err != nil {
		return nil, meta, err
	}
	body := raw[4+n:]
	if crc32.ChecksumIEEE(body) != meta.CRC {
		return nil, meta, errors.New("checksum mismatch")
	}
	return body, meta, nil
}
