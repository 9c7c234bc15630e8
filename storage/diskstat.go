package storage

import (
	"context"
	"sync"
	"syscall"

	"github.com/ufop/ufop"
)

// statMemo keeps the metadata Disk.Stat read from object files, by path,
// with the file's identity when it was read (device, inode, size, change
// and modification times). Objects are replaced by renaming a new file
// over the old one, so a changed object is a changed identity: a stat(2)
// of the path tells whether the memo still holds, in place of the open,
// read and close of the file's trailer. Bounded; dropped whole when full.
type statMemo struct {
	mu sync.Mutex
	m  map[string]statMemoEntry
}

const statMemoMax = 16 << 10

type statMemoEntry struct {
	id fileID
	m  meta
}

type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime syscall.Timespec
}

func identity(path string) (fileID, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino), size: st.Size, mtime: st.Mtim, ctime: st.Ctim}, true
}

// Stat returns an object's metadata.
func (s *Disk) Stat(ctx context.Context, bucket, key string) (ufop.Object, error) {
	if err := s.checkBucketKey(bucket, key); err != nil {
		return ufop.Object{}, err
	}
	_, path := s.objectPath(bucket, key)
	id, ok := identity(path)
	if ok {
		s.memo.mu.Lock()
		e, hit := s.memo.m[path]
		s.memo.mu.Unlock()
		if hit && e.id == id && e.m.Key == key {
			return e.m.object(bucket), nil
		}
	}
	// Missing, changed or not yet seen: read it, errors included.
	f, m, err := s.open(bucket, key)
	if err != nil {
		return ufop.Object{}, err
	}
	f.Close()
	// The identity taken before the read: a replacement in between
	// leaves a memo that no later stat matches.
	if ok {
		s.memo.mu.Lock()
		if s.memo.m == nil || len(s.memo.m) >= statMemoMax {
			s.memo.m = map[string]statMemoEntry{}
		}
		s.memo.m[path] = statMemoEntry{id: id, m: m}
		s.memo.mu.Unlock()
	}
	return m.object(bucket), nil
}
