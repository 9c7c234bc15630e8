package manifest

import (
	"errors"
	"strings"
)

// SplitCommand splits a command line into words the way a POSIX shell
// would, without running one: words are separated by blanks, 'single
// quotes' keep everything literally, "double quotes" keep everything but
// allow \" \\ \$ \` and backslash-newline, and an unquoted backslash
// escapes the next character. There is no expansion of $VAR, globs or ~:
// the result is an exec-form command, like Docker's.
func SplitCommand(s string) ([]string, error) {
	var (
		words   []string
		cur     strings.Builder
		inWord  bool
		quote   rune // 0, '\'' or '"'
		escaped bool
	)
	if strings.ContainsRune(s, 0) {
		return nil, errors.New("contains a NUL byte")
	}
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
			if quote == '"' && !strings.ContainsRune("\"\\$`\n", r) {
				cur.WriteRune('\\')
			}
			if r != '\n' { // backslash-newline is a line continuation
				cur.WriteRune(r)
				inWord = true
			}
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch r {
			case '"':
				quote = 0
			case '\\':
				escaped = true
			default:
				cur.WriteRune(r)
			}
		case r == '\\':
			escaped = true
		case r == '\'' || r == '"':
			quote = r
			inWord = true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	switch {
	case escaped:
		return nil, errors.New("ends with a lone backslash")
	case quote == '\'':
		return nil, errors.New("unterminated single quote")
	case quote == '"':
		return nil, errors.New("unterminated double quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
