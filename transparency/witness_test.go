package transparency

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/mod/sumdb/note"
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

type fixedSource struct{ cp *Checkpoint }

func (f fixedSource) LatestCheckpoint(context.Context) (*Checkpoint, error) { return f.cp, nil }
func (f fixedSource) ConsistencyProof(context.Context, uint64, uint64) (*ConsistencyProof, error) {
	return &ConsistencyProof{}, nil
}

// TestWitnessForgedCosignatureRefused: a witness (here a fake, since a
// real one cannot be made to misbehave) that answers with a signature line
// under its name and key hash that does not verify gets nothing attached,
// and one that answers with a valid cosignature does.
func TestWitnessForgedCosignatureRefused(t *testing.T) {
	skey, _, err := note.GenerateKey(rand.Reader, "log.example")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	root := make([]byte, 32)
	signed, err := note.Sign(&note.Note{Text: checkpointBody("log.example", 3, root)}, signer)
	if err != nil {
		t.Fatal(err)
	}
	cp := &Checkpoint{Origin: "log.example", Size: 3, Root: root, Note: signed}

	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	typed := append([]byte{algCosignatureV1}, pub...)
	hash := keyHash("w.example", typed)
	vkey := fmt.Sprintf("w.example+%08x+%s", hash, base64.StdEncoding.EncodeToString(typed))
	cosign := func(forge bool) string {
		sig := binary.BigEndian.AppendUint32(nil, hash)
		sig = binary.BigEndian.AppendUint64(sig, 1700000000)
		msg := fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", 1700000000, checkpointBody("log.example", 3, root))
		s := ed25519.Sign(priv, msg)
		if forge {
			s[0] ^= 1
		}
		return "— w.example " + base64.StdEncoding.EncodeToString(append(sig, s...)) + "\n"
	}
	for _, forge := range []bool{true, false} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			fmt.Fprint(w, cosign(forge))
		}))
		ws, err := NewWitnessing(fixedSource{cp}, WitnessOptions{Witnesses: []WitnessConfig{{URL: srv.URL, VerifierKey: vkey}}, Quorum: 1})
		if err != nil {
			t.Fatal(err)
		}
		ws.offer(context.Background(), ws.ws[0])
		srv.Close()
		served := ws.Served(cp)
		_, verr := OpenCosignedCheckpoint(served.Note, mustVerifierKey(t, skey), []string{vkey}, 1)
		if forge {
			if !bytes.Equal(served.Note, cp.Note) || ws.Status().QuorumMet || ws.Status().Witnesses[0].LastError == "" {
				t.Fatalf("forged cosignature attached or not reported: %+v\n%s", ws.Status(), served.Note)
			}
			continue
		}
		if verr != nil || !ws.Status().QuorumMet {
			t.Fatalf("valid cosignature: %v %+v", verr, ws.Status())
		}
	}
}

func mustVerifierKey(t *testing.T, skey string) string {
	t.Helper()
	v, err := verifierKeyFor(skey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
