// Package scoring loads LightGBM models and scores loan applications.
//
// A model file is parsed once by glassbox's own LightGBM parser (which
// enforces Limits and checks the tree structure), then the validated parse
// is handed to github.com/dmitryikh/leaves for prediction. Applications are
// validated against the model package's manifest before they are scored.
package scoring

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/dmitryikh/leaves"

	"github.com/glassbox-ledger/glassbox/models"
)

// ErrHashMismatch means a model file is not the one its manifest names.
var ErrHashMismatch = errors.New("model file SHA-256 does not match the manifest")

// Model is a loaded model, ready to score. It is safe for concurrent use.
type Model struct {
	// Manifest is nil for a bare model file.
	Manifest *models.Manifest
	SHA256   string
	// Reference is the package's reference.json (nil if none) and
	// ReferenceSHA256 the hash of its bytes.
	Reference       *models.Reference
	ReferenceSHA256 string
	// Evidence is the package's validation evidence (nil if none) and
	// EvidenceSHA256 the hash of its bytes; Distribution its reference
	// distribution for population stability (nil if none).
	Evidence       *models.Evidence
	EvidenceSHA256 string
	Distribution   *models.Distribution
	Ensemble       *Ensemble
	predict        *leaves.Ensemble
	scale          models.ScoreScale
	// scoreRange caches ScoreRange (scorerange.go). A pointer, so that a
	// copy of a Model (tests swap the manifest of one) copies no lock;
	// nil (a Model not built by this package) computes without caching.
	scoreRange *rangeCache
}

// Prediction is a model's output for one application.
type Prediction struct {
	// Raw is the log-odds of default.
	Raw float64 `json:"raw_score"`
	// PD is the probability of default.
	PD float64 `json:"probability_of_default"`
	// Score is PD on the manifest's points scale (higher is safer).
	Score float64 `json:"score"`
}

// Load builds a Model from a package, refusing it unless the model bytes
// hash to the manifest's SHA-256 and the features agree with the manifest.
func Load(p *models.Package) (*Model, error) {
	if !p.HashMatches() {
		return nil, fmt.Errorf("model %s: %w (manifest %s, file %s)", p.Manifest.ID, ErrHashMismatch, p.Manifest.ModelSHA256, p.SHA256)
	}
	m, err := FromBytes(p.Model)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", p.Manifest.ID, err)
	}
	if err := checkManifest(p.Manifest, m.Ensemble); err != nil {
		return nil, fmt.Errorf("model %s: %w", p.Manifest.ID, err)
	}
	m.Manifest = p.Manifest
	m.Reference, m.ReferenceSHA256 = p.Reference, p.ReferenceSHA256
	m.Evidence, m.EvidenceSHA256, m.Distribution = p.Evidence, p.EvidenceSHA256, p.Distribution
	m.scale = p.Manifest.ScoreScale
	return m, nil
}

// LoadPath loads a package folder, or a bare LightGBM text file.
func LoadPath(path string) (*Model, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		p, err := models.LoadDir(path)
		if err != nil {
			return nil, err
		}
		return Load(p)
	}
	if st.Size() > int64(DefaultLimits().MaxFileBytes) {
		return nil, fmt.Errorf("%s: model file is %d bytes, limit %d", path, st.Size(), DefaultLimits().MaxFileBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := FromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// FromBytes loads a bare LightGBM text model (no manifest).
func FromBytes(data []byte) (*Model, error) {
	e, err := ParseLightGBM(data, DefaultLimits())
	if err != nil {
		return nil, err
	}
	lv, err := leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(e.leavesText())), false)
	if err != nil {
		return nil, fmt.Errorf("leaves: %w", err)
	}
	if lv.NFeatures() != len(e.FeatureNames) {
		return nil, fmt.Errorf("leaves reads %d features, model has %d", lv.NFeatures(), len(e.FeatureNames))
	}
	sum := sha256.Sum256(data)
	return &Model{SHA256: hex.EncodeToString(sum[:]), Ensemble: e, predict: lv, scale: models.DefaultScoreScale(), scoreRange: &rangeCache{}}, nil
}

func checkManifest(m *models.Manifest, e *Ensemble) error {
	if len(m.Features) != len(e.FeatureNames) {
		return fmt.Errorf("manifest lists %d features, model has %d", len(m.Features), len(e.FeatureNames))
	}
	for i, f := range m.Features {
		if f.Name != e.FeatureNames[i] {
			return fmt.Errorf("feature %d: manifest says %q, model says %q", i, f.Name, e.FeatureNames[i])
		}
		if e.Monotone != nil && e.Monotone[i] != 0 && e.Monotone[i] != f.Monotone {
			return fmt.Errorf("feature %q: manifest declares monotone %d, model was trained with %d", f.Name, f.Monotone, e.Monotone[i])
		}
	}
	return nil
}

// ID names the model: the manifest id, or "sha256:…" for a bare file.
func (m *Model) ID() string {
	if m.Manifest != nil {
		return m.Manifest.ID
	}
	return "sha256:" + m.SHA256
}

// NumFeatures is the length of the model's feature vectors.
func (m *Model) NumFeatures() int { return len(m.Ensemble.FeatureNames) }

// Raw returns the log-odds of default for a feature vector (NaN = missing).
func (m *Model) Raw(x []float64) float64 {
	return m.predict.PredictSingle(x, 0)
}

// Predict scores a feature vector.
func (m *Model) Predict(x []float64) Prediction {
	raw := m.Raw(x)
	return Prediction{Raw: raw, PD: m.Probability(raw), Score: m.scale.Points(m.Ensemble.Sigmoid * raw)}
}

// Probability maps a raw score to the probability of default exactly as
// LightGBM's binary objective does.
func (m *Model) Probability(raw float64) float64 {
	return 1 / (1 + math.Exp(-m.Ensemble.Sigmoid*raw))
}

// Scale returns the score scale the model reports on.
func (m *Model) Scale() models.ScoreScale { return m.scale }
