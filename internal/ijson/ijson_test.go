package ijson

import (
	"errors"
	"strings"
	"testing"
)

func TestLoneSurrogate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int // byte offset of the offending escape, -1 for none
	}{
		{"no escapes", `{"a":"b"}`, -1},
		{"plain escapes", `["\n\t\"\\\/\u0041\u00e9\uffff\ud7ff\ue000"]`, -1},
		{"pair lower case", `"\ud83d\ude00"`, -1},
		{"pair upper case", `"\uD83D\uDE00"`, -1},
		{"pair mixed case", `"\uDbFf\udFfF"`, -1},
		{"two pairs", `"\ud800\udc00\udbff\udfff"`, -1},
		{"escaped backslash then u", `"\\ud800"`, -1},
		{"escaped backslash then pair half", `"\\\ud83d\ude00"`, -1},
		{"surrogate text outside a string", `[1] \ud800`, -1},
		{"high alone", `"\ud800"`, 1},
		{"high alone upper case", `"\uDBFF"`, 1},
		{"low alone", `"\udc00"`, 1},
		{"low alone upper case", `"\uDFFF"`, 1},
		{"high at start", `"\ud800abc"`, 1},
		{"high in middle", `"ab\ud800cd"`, 3},
		{"high at end", `"abc\ud800"`, 4},
		{"low after text", `"x\udc00"`, 2},
		{"high then high", `"\ud800\ud800"`, 1},
		{"high then bmp escape", `"\ud800\u0041"`, 1},
		{"high then other escape", `"\ud800\n"`, 1},
		{"high then raw low bytes", "\"\\ud800\xed\xb0\x80\"", 1},
		{"reversed pair", `"\ude00\ud83d"`, 1},
		{"pair then lone low", `"\ud83d\ude00\ude00"`, 13},
		{"lone after a good pair", `"\ud83d\ude00\ud800"`, 13},
		{"in a member name", `{"\ud800":1}`, 2},
		{"in a nested value", `{"a":[{"b":"ok"},{"c":"\udfff"}]}`, 23},
		{"second string", `["\ud83d\ude00","\ud800"]`, 17},
		{"high then truncated escape", `"\ud800\ud`, 1},
		{"truncated high", `"\ud8`, -1},
		{"malformed hex", `"\ud8zz"`, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LoneSurrogate([]byte(tt.in)); got != tt.want {
				t.Errorf("LoneSurrogate(%s) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestErrorNamesEscapeAndOffset(t *testing.T) {
	data := []byte(`{"a":"x\udc00"}`)
	at := LoneSurrogate(data)
	err := Error(data, at)
	if !errors.Is(err, ErrLoneSurrogate) {
		t.Errorf("%v does not wrap ErrLoneSurrogate", err)
	}
	if msg := err.Error(); !strings.Contains(msg, `\udc00`) || !strings.Contains(msg, "byte 7") {
		t.Errorf("message %q names neither the escape nor its offset", msg)
	}
	// At the very end of the input the escape is cut, not overrun.
	if msg := Error([]byte(`\ud8`), 0).Error(); !strings.Contains(msg, `\ud8`) {
		t.Errorf("message %q", msg)
	}
}
