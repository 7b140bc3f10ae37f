// Package ijson checks the rule of I-JSON (RFC 7493 §2.1) that
// encoding/json does not enforce: strings must not contain unpaired UTF-16
// surrogates. encoding/json turns an escaped lone surrogate such as
// "\ud800" into U+FFFD, so a document that is not I-JSON would silently
// change on its way into a ledger record; callers use LoneSurrogate to
// refuse such documents instead.
//
// Raw (unescaped) surrogates cannot occur in valid UTF-8, so escapes are
// the only way to write one; callers check UTF-8 validity separately.
package ijson

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrLoneSurrogate is wrapped by the errors Error returns.
var ErrLoneSurrogate = errors.New("unpaired UTF-16 surrogate")

// LoneSurrogate returns the byte offset of the first \u escape inside a
// JSON string that encodes an unpaired surrogate (a high surrogate
// D800–DBFF not immediately followed by an escaped low surrogate
// DC00–DFFF, or a low surrogate on its own), or -1 if there is none.
// It is a lexical scan that works on any input: malformed escapes and
// other syntax errors are left for the JSON parser to report.
func LoneSurrogate(data []byte) int {
	if bytes.IndexByte(data, '\\') < 0 {
		return -1 // no escapes at all: the common case costs one scan
	}
	inString := false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case !inString:
			inString = c == '"'
		case c == '"':
			inString = false
		case c == '\\':
			r, ok := escapedUnit(data, i)
			switch {
			case !ok:
				i++ // skip the escaped character, whatever it is
			case r < 0xd800 || r > 0xdfff:
				i += 5
			case r >= 0xdc00:
				return i // a low surrogate with no high one before it
			default:
				lo, ok := escapedUnit(data, i+6)
				if !ok || lo < 0xdc00 || lo > 0xdfff {
					return i
				}
				i += 11 // the pair
			}
		}
	}
	return -1
}

// escapedUnit decodes the \uXXXX escape starting at data[i], if there is
// a well-formed one.
func escapedUnit(data []byte, i int) (rune, bool) {
	if i+6 > len(data) || data[i] != '\\' || data[i+1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range data[i+2 : i+6] {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// Error describes the lone surrogate LoneSurrogate found at offset, for
// messages: the escape as written and where it is.
func Error(data []byte, offset int) error {
	end := min(offset+6, len(data))
	return fmt.Errorf("%w %s in a string at byte %d: I-JSON (RFC 7493) allows only complete surrogate pairs", ErrLoneSurrogate, data[offset:end], offset)
}
