package storage

import (
	"strings"
)

// S3 object names. A ufop key is not used verbatim as an S3 key: S3
// servers backed by a file system (versitygw's posix backend, SeaweedFS,
// MinIO in FS mode) cannot hold both "a" and "a/b", nor a path component
// longer than 255 bytes, and ufop allows both. So each key is escaped into
// a name that
//
//   - has no '/' of its own: bytes outside '0'..'}' become "%XX" (below)
//     or "~XX" (above), so "a" and "a/b" never collide as file and dir;
//   - is cut into 200-character components by '/' at fixed positions, so
//     no component is longer than a file name may be;
//   - ends with '!', so a name is never also a directory of a longer one;
//   - sorts like the key: '!' < '%' < '0'..'}' < '~', the separators sit
//     at the same offsets in every name, and escapes keep byte order. So
//     S3's own ordered listing (Prefix, StartAfter) gives ufop's order, and
//     an escaped prefix (without the '!') is an S3 prefix.
const (
	s3NameChunk  = 200
	s3NameEnd    = '!'
	s3EscapeLow  = '%'
	s3EscapeHigh = '~'
)

const hexDigits = "0123456789ABCDEF"

// escapeS3Key returns the escaped form of key (or of a prefix) without
// chunk separators or the end mark.
func escapeS3Key(key string) string {
	var b strings.Builder
	b.Grow(len(key) + len(key)/4)
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c < '0':
			b.WriteByte(s3EscapeLow)
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		case c > '}':
			b.WriteByte(s3EscapeHigh)
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// chunkS3Name puts a '/' after every s3NameChunk characters.
func chunkS3Name(esc string) string {
	if len(esc) <= s3NameChunk {
		return esc
	}
	var b strings.Builder
	b.Grow(len(esc) + len(esc)/s3NameChunk)
	for i := 0; i < len(esc); i += s3NameChunk {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(esc[i:min(i+s3NameChunk, len(esc))])
	}
	return b.String()
}

// s3Name is the object name of key, relative to its bucket's prefix.
func s3Name(key string) string {
	return chunkS3Name(escapeS3Key(key)) + string(s3NameEnd)
}

// s3NamePrefix is the S3 prefix under which the names of all keys that
// start with prefix lie.
func s3NamePrefix(prefix string) string {
	return chunkS3Name(escapeS3Key(prefix))
}

// parseS3Name reverses s3Name; ok is false for a name s3Name cannot
// produce (the bucket marker, objects put there by other tools).
func parseS3Name(name string) (key string, ok bool) {
	if len(name) < 2 || name[len(name)-1] != s3NameEnd {
		return "", false
	}
	name = name[:len(name)-1]
	// Check the separators sit where chunkS3Name puts them.
	var esc strings.Builder
	esc.Grow(len(name))
	for i := 0; i < len(name); {
		end := min(i+s3NameChunk, len(name))
		part := name[i:end]
		if strings.IndexByte(part, '/') >= 0 {
			return "", false
		}
		esc.WriteString(part)
		i = end
		if i < len(name) {
			if name[i] != '/' || i+1 == len(name) {
				return "", false
			}
			i++
		}
	}
	e := esc.String()
	out := make([]byte, 0, len(e))
	for i := 0; i < len(e); i++ {
		c := e[i]
		switch {
		case c == s3EscapeLow || c == s3EscapeHigh:
			if i+2 >= len(e) {
				return "", false
			}
			hi, lo := unhex(e[i+1]), unhex(e[i+2])
			if hi < 0 || lo < 0 {
				return "", false
			}
			v := byte(hi<<4 | lo)
			if c == s3EscapeLow && v >= '0' || c == s3EscapeHigh && v <= '}' {
				return "", false
			}
			out = append(out, v)
			i += 2
		case c < '0' || c > '}':
			return "", false
		default:
			out = append(out, c)
		}
	}
	return string(out), true
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
