package agent

import (
	"container/list"
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
)

// diskCache is a byte-bounded LRU of files in one directory. It survives
// restarts: on open it rebuilds its index from the files, oldest access
// (mtime) first. Entries carry a checksum, so a file torn by a crash reads
// as a miss, not as garbage.
type diskCache struct {
	dir    string
	max    int64
	logger *slog.Logger

	mu    sync.Mutex
	size  int64
	lru   *list.List // front = most recent; values are *cacheEntry
	items map[string]*list.Element
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
	c := &diskCache{dir: dir, max: max, logger: logger, lru: list.New(), items: map[string]*list.Element{}}
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
	slices.SortFunc(found, func(a, b *cacheEntry) int { return b.touched.Compare(a.touched) })
	for _, e := range found {
		c.items[e.name] = c.lru.PushBack(e)
		c.size += e.size
	}
	c.mu.Lock()
	c.evictLocked()
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
	el, hit := c.items[name]
	var touch bool
	if hit {
		c.lru.MoveToFront(el)
		e := el.Value.(*cacheEntry)
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
	if el, ok := c.items[name]; ok {
		c.size -= el.Value.(*cacheEntry).size
		c.lru.Remove(el)
	}
	c.items[name] = c.lru.PushFront(&cacheEntry{name: name, size: size, touched: time.Now()})
	c.size += size
	c.evictLocked()
	return nil
}

func (c *diskCache) evictLocked() {
	for c.size > c.max {
		el := c.lru.Back()
		if el == nil {
			return
		}
		e := el.Value.(*cacheEntry)
		c.lru.Remove(el)
		delete(c.items, e.name)
		c.size -= e.size
		if err := os.Remove(c.path(e.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.logger.Warn("cache evict", "name", e.name, "err", err)
		}
	}
}

func (c *diskCache) remove(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[name]; ok {
		c.size -= el.Value.(*cacheEntry).size
		c.lru.Remove(el)
		delete(c.items, name)
	}
	os.Remove(c.path(name))
}

// Size returns the bytes held.
func (c *diskCache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
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
