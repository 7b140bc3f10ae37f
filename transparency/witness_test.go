package transparency

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"testing"
)

// TestWitnessingServedNeverGoesBack: before a quorum, the latest checkpoint
// is served; a cosigned checkpoint smaller than one served that way is not
// published, a later one is, and from then on the newest cosigned one.
func TestWitnessingServedNeverGoesBack(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	typed := append([]byte{algCosignatureV1}, pub...)
	vkey := fmt.Sprintf("w.example+%08x+%s", keyHash("w.example", typed), base64.StdEncoding.EncodeToString(typed))
	w, err := NewWitnessing(nil, WitnessOptions{Witnesses: []WitnessConfig{{URL: "http://127.0.0.1:1", VerifierKey: vkey}}, Quorum: 1})
	if err != nil {
		t.Fatal(err)
	}
	cp := func(size uint64) *Checkpoint {
		return &Checkpoint{Size: size, Note: fmt.Appendf(nil, "o\n%d\nroot\n\n— o sig\n", size)}
	}
	cosign := func(size uint64) {
		c := cp(size)
		w.observe(c)
		w.record(c, "w.example", [][]byte{fmt.Appendf(nil, "— w.example cosig%d\n", size)})
	}
	steps := []struct {
		cosign, latest, want uint64
	}{
		{0, 10, 10}, // no quorum yet: the latest
		{5, 11, 11}, // cosigned 5 < 10 already served: not published
		{12, 20, 12},
		{15, 30, 15},
		{14, 31, 15}, // never back
	}
	for i, s := range steps {
		if s.cosign > 0 {
			cosign(s.cosign)
		}
		got := w.Served(cp(s.latest))
		if got.Size != s.want {
			t.Fatalf("step %d: served %d, want %d", i, got.Size, s.want)
		}
	}
	if got := string(w.Served(cp(40)).Note); got != "o\n15\nroot\n\n— o sig\n— w.example cosig15\n" {
		t.Fatalf("served note %q", got)
	}
}
