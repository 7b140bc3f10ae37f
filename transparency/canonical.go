package transparency

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/glassbox-ledger/glassbox/internal/ijson"
)

// Canonicalize re-emits a JSON text in the canonical form used for ledger
// records (RFC 8785, JSON Canonicalization Scheme): object members sorted by
// the UTF-16 code units of their names, no insignificant whitespace, numbers
// in the shortest form that round-trips through an IEEE 754 double (the
// ECMAScript Number-to-String rules) and strings escaped minimally.
//
// Duplicate object member names are rejected, because a canonical form
// cannot represent them and parsers disagree on which one wins. So are
// escaped lone surrogates ("\ud800"): RFC 8785 requires I-JSON, and
// encoding/json would otherwise turn them into U+FFFD, so that two
// different texts would share one canonical form.
func Canonicalize(data []byte) ([]byte, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: invalid UTF-8", ErrInvalidRecord)
	}
	if at := ijson.LoneSurrogate(data); at >= 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRecord, ijson.Error(data, at))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: trailing data after JSON value", ErrInvalidRecord)
	}
	var buf bytes.Buffer
	buf.Grow(len(data))
	if err := writeCanonical(&buf, v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	return buf.Bytes(), nil
}

// member keeps object members in a slice rather than a map so duplicates
// can be detected and the sort order controlled explicitly.
type member struct {
	name  string
	value any
}

// decodeValue reads one JSON value token by token. A token-level decoder is
// used instead of Unmarshal into map[string]any so that duplicate names are
// seen rather than silently collapsed.
func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			var members []member
			seen := map[string]bool{}
			for dec.More() {
				nt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				name, ok := nt.(string)
				if !ok {
					return nil, fmt.Errorf("object member name is %T", nt)
				}
				if seen[name] {
					return nil, fmt.Errorf("duplicate object member %q", name)
				}
				seen[name] = true
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				members = append(members, member{name, v})
			}
			if _, err := dec.Token(); err != nil { // closing '}'
				return nil, err
			}
			return members, nil
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil { // closing ']'
				return nil, err
			}
			return arr, nil
		default:
			return nil, fmt.Errorf("unexpected delimiter %q", t)
		}
	default:
		return t, nil // string, json.Number, bool or nil
	}
}

func writeCanonical(buf *bytes.Buffer, v any) error {
	switch t := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(t))
	case string:
		writeString(buf, t)
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			// ParseFloat reports out-of-range values (e.g. 1e400) as errors;
			// I-JSON forbids them, so the record is rejected.
			return fmt.Errorf("number %s: %w", t, err)
		}
		b, err := appendNumber(buf.AvailableBuffer(), f)
		if err != nil {
			return err
		}
		buf.Write(b)
	case []any:
		buf.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeCanonical(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case []member:
		sorted := slices.Clone(t)
		slices.SortFunc(sorted, func(a, b member) int { return compareUTF16(a.name, b.name) })
		buf.WriteByte('{')
		for i, m := range sorted {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, m.name)
			buf.WriteByte(':')
			if err := writeCanonical(buf, m.value); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("unsupported JSON value %T", v)
	}
	return nil
}

// compareUTF16 orders strings by UTF-16 code units as RFC 8785 §3.2.3
// requires; this differs from byte order only for characters outside the
// Basic Multilingual Plane versus U+E000..U+FFFF.
func compareUTF16(a, b string) int {
	if isASCII(a) && isASCII(b) {
		return strings.Compare(a, b)
	}
	return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// writeString escapes only what RFC 8785 §3.2.2.2 requires: the quote, the
// backslash and control characters. Unlike encoding/json it leaves <, >, &
// and U+2028/U+2029 alone, since escaping them is not canonical. Runs of
// bytes that need no escape are copied whole: record encoding spends much
// of its time here.
func writeString(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	start := 0 // s[start:i] is pending, unescaped
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		buf.WriteString(s[start:i])
		start = i + 1
		switch c {
		case '"':
			buf.WriteString(`\"`)
		case '\\':
			buf.WriteString(`\\`)
		case '\b':
			buf.WriteString(`\b`)
		case '\f':
			buf.WriteString(`\f`)
		case '\n':
			buf.WriteString(`\n`)
		case '\r':
			buf.WriteString(`\r`)
		case '\t':
			buf.WriteString(`\t`)
		default:
			buf.WriteString(`\u00`)
			buf.WriteByte(hex[c>>4])
			buf.WriteByte(hex[c&0xf])
		}
	}
	buf.WriteString(s[start:])
	buf.WriteByte('"')
}

// FormatNumber renders f as ECMAScript's Number.prototype.toString does
// (ECMA-262 §6.1.6.1.20), which is the number form RFC 8785 mandates. The
// digits come from strconv's shortest round-trip formatting, so parsing the
// result gives back exactly f. NaN and infinities have no JSON form.
func FormatNumber(f float64) (string, error) {
	b, err := appendNumber(nil, f)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// finiteNumber refuses the numbers that have no JSON form.
func finiteNumber(f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("%w: number %v has no JSON representation", ErrInvalidRecord, f)
	}
	return nil
}

// appendNumber appends FormatNumber's form of f to dst. It is the one
// implementation behind FormatNumber, Canonicalize and the record encoder;
// it works in place so that encoding a record's dozens of numbers does not
// allocate for each.
func appendNumber(dst []byte, f float64) ([]byte, error) {
	if err := finiteNumber(f); err != nil {
		return dst, err
	}
	if f == 0 {
		return append(dst, '0'), nil // also for -0, as ECMAScript does
	}
	if f < 0 {
		dst = append(dst, '-')
		f = -f
	}
	// 'e' with precision -1 gives the shortest round-trip digits as
	// d[.ddd]e±XX (at most 17 digits and a three-digit exponent).
	var scratch [32]byte
	e := strconv.AppendFloat(scratch[:0], f, 'e', -1, 64)
	i := bytes.IndexByte(e, 'e')
	mant, expPart := e[:i], e[i+1:]
	var digitBuf [24]byte
	digits := append(digitBuf[:0], mant[0])
	if len(mant) > 2 { // skip the '.'
		digits = append(digits, mant[2:]...)
	}
	exp := 0
	for _, c := range expPart[1:] {
		exp = exp*10 + int(c-'0')
	}
	if expPart[0] == '-' {
		exp = -exp
	}
	k := len(digits)
	n := exp + 1 // value = 0.digits × 10^n
	switch {
	case k <= n && n <= 21:
		dst = append(dst, digits...)
		for range n - k {
			dst = append(dst, '0')
		}
	case 0 < n && n <= 21:
		dst = append(dst, digits[:n]...)
		dst = append(dst, '.')
		dst = append(dst, digits[n:]...)
	case -6 < n && n <= 0:
		dst = append(dst, "0."...)
		for range -n {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	default:
		dst = append(dst, digits[0])
		if k > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		if n-1 >= 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, int64(n-1), 10)
	}
	return dst, nil
}
