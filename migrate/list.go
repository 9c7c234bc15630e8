package migrate

import (
	"bufio"
	"bytes"
	"io"
	"unicode/utf8"

	"github.com/ufop/ufop"
)

// MaxListLine bounds one line of a key list (a key is at most
// storage.MaxKeyBytes; the slack is for a CR and spaces).
const MaxListLine = 4096

// ListScanner reads a key list: one key a line, LF or CRLF, blank lines
// skipped. Keys are taken as they are (no trimming inside the line): a key
// that is no valid ufop key is copied as a failure with its reason, it does
// not stop the list. It holds one line at a time.
type ListScanner struct {
	r    *bufio.Reader
	line int
	off  int64
	key  string
	err  error
}

// NewListScanner reads a list from r; off is where r starts in the list
// (a restarted lister resumes at its checkpoint).
func NewListScanner(r io.Reader, off int64) *ListScanner {
	return &ListScanner{r: bufio.NewReaderSize(r, 64<<10), off: off}
}

// Scan advances to the next key; it returns false at the end or on an
// error (Err).
func (s *ListScanner) Scan() bool {
	for {
		b, err := s.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull || len(b) > MaxListLine+2 {
			s.err = ufop.Errorf(ufop.KindInvalid, "key list line %d: longer than %d bytes", s.line+1, MaxListLine)
			return false
		}
		if err != nil && err != io.EOF {
			s.err = ufop.Errorf(ufop.KindInvalid, "key list line %d: %v", s.line+1, err)
			return false
		}
		if len(b) == 0 && err == io.EOF {
			return false
		}
		s.line++
		s.off += int64(len(b))
		k := bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
		if len(k) > MaxListLine {
			s.err = ufop.Errorf(ufop.KindInvalid, "key list line %d: longer than %d bytes", s.line, MaxListLine)
			return false
		}
		if !utf8.Valid(k) {
			s.err = ufop.Errorf(ufop.KindInvalid, "key list line %d: not valid UTF-8", s.line)
			return false
		}
		if len(bytes.TrimSpace(k)) == 0 {
			if err == io.EOF {
				return false
			}
			continue
		}
		s.key = string(k)
		return true
	}
}

// Key is the key Scan found.
func (s *ListScanner) Key() string { return s.key }

// Line is the line number of Key (1-based).
func (s *ListScanner) Line() int { return s.line }

// Offset is the byte offset just after Key's line: where a resumed scan
// starts.
func (s *ListScanner) Offset() int64 { return s.off }

// Err is the error that stopped Scan, if any.
func (s *ListScanner) Err() error { return s.err }

// CheckList reads a whole list and returns how many keys it has, or the
// first error naming its line.
func CheckList(r io.Reader) (int64, error) {
	s := NewListScanner(r, 0)
	var n int64
	for s.Scan() {
		n++
	}
	return n, s.Err()
}
