package models

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
)

// MaxModelBytes bounds how much of a model file is ever read.
const MaxModelBytes = 256 << 20

// DefaultID is the id of the embedded default model.
const DefaultID = "credit-risk-v1"

//go:embed credit-risk-v1/manifest.json credit-risk-v1/model.txt credit-risk-v1/reference.json
//go:embed credit-risk-v1/distribution.json credit-risk-v1/evidence.json
var embedded embed.FS

// Package is a model package read from disk or from the binary.
type Package struct {
	// Source says where the package came from (a folder, or "embedded").
	Source   string
	Manifest *Manifest
	Model    []byte
	// SHA256 is the hash of Model as read, lowercase hex. Whether it
	// matches Manifest.ModelSHA256 is for the caller (and policy) to judge.
	SHA256 string
	// Reference is the package's reference.json, nil if it ships none;
	// ReferenceSHA256 is the hash of its bytes, which admission records.
	Reference       *Reference
	ReferenceSHA256 string
	// Distribution is the package's distribution.json (nil if none), the
	// reference distribution population stability is measured against.
	Distribution       *Distribution
	DistributionSHA256 string
	// Evidence is the package's evidence.json (nil if none), the measured
	// validation figures admission gates on; EvidenceSHA256 the hash of
	// its bytes, which the model_admitted record carries.
	Evidence       *Evidence
	EvidenceSHA256 string
}

// HashMatches reports whether the model bytes are those the manifest names.
func (p *Package) HashMatches() bool { return p.SHA256 == p.Manifest.ModelSHA256 }

// Default returns the embedded default package.
func Default() (*Package, error) {
	p, err := LoadFS(embedded, DefaultID)
	if err != nil {
		return nil, err
	}
	p.Source = "embedded:" + DefaultID
	return p, nil
}

// LoadDir reads the package in folder dir.
func LoadDir(dir string) (*Package, error) {
	p, err := LoadFS(os.DirFS(dir), ".")
	if err != nil {
		return nil, fmt.Errorf("model package %s: %w", dir, err)
	}
	p.Source = dir
	return p, nil
}

// LoadFS reads the package in folder dir of fsys.
func LoadFS(fsys fs.FS, dir string) (*Package, error) {
	raw, err := fs.ReadFile(fsys, path.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	m, err := ParseManifest(raw)
	if err != nil {
		return nil, err
	}
	f, err := fsys.Open(path.Join(dir, ModelFile))
	if err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	defer f.Close()
	model, err := io.ReadAll(io.LimitReader(f, MaxModelBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	if len(model) > MaxModelBytes {
		return nil, fmt.Errorf("model file exceeds %d bytes", MaxModelBytes)
	}
	msum := sha256.Sum256(model)
	p := &Package{Source: dir, Manifest: m, Model: model, SHA256: hex.EncodeToString(msum[:])}
	ref, sum, err := readOptional(fsys, path.Join(dir, ReferenceFile))
	if err != nil {
		return nil, err
	}
	if ref != nil {
		if p.Reference, err = ParseReference(ref, m); err != nil {
			return nil, err
		}
		p.ReferenceSHA256 = sum
	}
	dist, sum, err := readOptional(fsys, path.Join(dir, DistributionFile))
	if err != nil {
		return nil, err
	}
	if dist != nil {
		if p.Distribution, err = ParseDistribution(dist, m); err != nil {
			return nil, err
		}
		p.DistributionSHA256 = sum
	}
	ev, sum, err := readOptional(fsys, path.Join(dir, EvidenceFile))
	if err != nil {
		return nil, err
	}
	if ev != nil {
		if p.Evidence, err = ParseEvidence(ev, m); err != nil {
			return nil, err
		}
		p.EvidenceSHA256 = sum
	}
	return p, nil
}

// readOptional reads an optional package file and hashes it; nil data if
// the package has none.
func readOptional(fsys fs.FS, name string) (data []byte, sha string, err error) {
	data, err = fs.ReadFile(fsys, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, "", nil
	case err != nil:
		return nil, "", fmt.Errorf("read %s: %w", path.Base(name), err)
	}
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:]), nil
}

// LoadAll reads dir as one package folder (if it holds a manifest) or as
// a folder of package folders.
func LoadAll(dir string) ([]*Package, error) {
	if _, err := os.Stat(path.Join(dir, ManifestFile)); err == nil {
		p, err := LoadDir(dir)
		if err != nil {
			return nil, err
		}
		return []*Package{p}, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("models folder: %w", err)
	}
	var out []*Package
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sub := path.Join(dir, e.Name())
		if _, err := os.Stat(path.Join(sub, ManifestFile)); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		p, err := LoadDir(sub)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("models folder %s holds no model package", dir)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Manifest.ID < out[j].Manifest.ID })
	return out, nil
}
