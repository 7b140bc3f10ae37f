package scoring

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/scoring/scoringtest"
)

// leafRangeFromText computes the raw range straight from the model text,
// without glassbox's parser: the leaf_value= line of every tree, its
// minimum and maximum, summed.
func leafRangeFromText(t *testing.T, text []byte) (lo, hi float64) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	trees := 0
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "leaf_value=")
		if !ok {
			continue
		}
		var vals []float64
		for _, f := range strings.Fields(line) {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				t.Fatal(err)
			}
			vals = append(vals, v)
		}
		lo += slices.Min(vals)
		hi += slices.Max(vals)
		trees++
	}
	if trees == 0 {
		t.Fatal("no leaf_value lines")
	}
	return lo, hi
}

func modelText(t *testing.T, path string) []byte {
	t.Helper()
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, models.ModelFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestScoreRangeFromTrees checks the shipped models' range against the
// model text read independently, and that every test-set row scores
// inside it.
func TestScoreRangeFromTrees(t *testing.T) {
	for _, tc := range referenceCases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := LoadPath(tc.model)
			if err != nil {
				t.Fatal(err)
			}
			wantLo, wantHi := leafRangeFromText(t, modelText(t, tc.model))
			lo, hi := m.Ensemble.RawRange()
			if math.Abs(lo-wantLo) > 1e-9 || math.Abs(hi-wantHi) > 1e-9 {
				t.Fatalf("raw range [%v, %v], from the text [%v, %v]", lo, hi, wantLo, wantHi)
			}
			// The search over valid applications lies inside that bound.
			r := m.Ensemble.RawRangeOver(Domains(m.Manifest, m.NumFeatures()), m.Ensemble.rangeBudget())
			if r.Lo < lo || r.Hi > hi || r.Lo >= r.Hi {
				t.Fatalf("searched range [%v, %v] outside the leaf bound [%v, %v]", r.Lo, r.Hi, lo, hi)
			}
			// Through the scale by its formula, written out here.
			sc := m.Scale()
			points := func(raw float64) float64 {
				p := sc.BasePoints + sc.PDO*math.Log2(math.Exp(-raw)/sc.BaseOdds)
				return math.Max(sc.Min, math.Min(sc.Max, p))
			}
			sLo, sHi, exact := m.ScoreRange()
			if math.Abs(sLo-points(r.Hi)) > 1e-9 || math.Abs(sHi-points(r.Lo)) > 1e-9 {
				t.Fatalf("score range [%v, %v], want [%v, %v]", sLo, sHi, points(r.Hi), points(r.Lo))
			}
			rows := readRows(t, m, tc.data)
			obsLo, obsHi := math.Inf(1), math.Inf(-1)
			for _, x := range rows {
				p := m.Predict(x)
				obsLo, obsHi = min(obsLo, p.Score), max(obsHi, p.Score)
				if p.Raw < r.Lo-1e-9 || p.Raw > r.Hi+1e-9 {
					t.Fatalf("row %v: raw %v outside [%v, %v]", x, p.Raw, r.Lo, r.Hi)
				}
			}
			if obsLo < sLo || obsHi > sHi {
				t.Fatalf("test rows score [%v, %v], outside the range [%v, %v]", obsLo, obsHi, sLo, sHi)
			}
			t.Logf("score range [%.1f, %.1f] (exact %v, scale [%v, %v]); %d test rows score [%.1f, %.1f]", sLo, sHi, exact, sc.Min, sc.Max, len(rows), obsLo, obsHi)
		})
	}
}

// gridValues lists one value for every cell that a feature's splits cut
// its axis into, plus the values missing-value rules treat apart (NaN and
// zero), and for categorical features every category and one beyond.
func gridValues(e *Ensemble, o scoringtest.Options, f int) []float64 {
	vals := []float64{math.NaN(), 0, -1e9, 1e9}
	if f >= o.Features-o.Categorical {
		for c := range o.Levels + 1 {
			vals = append(vals, float64(c))
		}
		return vals
	}
	for i := range e.Trees {
		t := &e.Trees[i]
		for n := range t.SplitFeature {
			if t.SplitFeature[n] == f && !t.IsCategorical(n) {
				th := t.Threshold[n]
				vals = append(vals, th, math.Nextafter(th, math.Inf(1)))
			}
		}
	}
	return vals
}

// TestRawRangeBruteForce enumerates every cell of small generated models
// and scores it through leaves: the range search must find exactly the
// brute-force extremes, no input may score outside RawRange, and the
// per-tree extremes over the leaves actually reached must sum to RawRange
// whenever every leaf is reached.
func TestRawRangeBruteForce(t *testing.T) {
	equalSeen := 0
	for seed := uint64(1); seed <= 12; seed++ {
		o := scoringtest.Options{Features: 3, Categorical: 1, Levels: 4, Trees: 3, MaxLeaves: 5, Unused: -1, Seed: seed}
		gen := scoringtest.Random(o)
		m, err := FromBytes(gen.Text)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := m.Ensemble.RawRange()
		domains := Domains(nil, o.Features)
		for f := o.Features - o.Categorical; f < o.Features; f++ {
			domains[f] = Domain{Categorical: true, Levels: o.Levels + 1, Missing: true}
		}
		got := m.Ensemble.RawRangeOver(domains, 100000)
		grids := make([][]float64, o.Features)
		for f := range grids {
			grids[f] = gridValues(m.Ensemble, o, f)
		}
		reached := make([]map[int]bool, len(m.Ensemble.Trees))
		for i := range reached {
			reached[i] = map[int]bool{}
		}
		trueLo, trueHi := math.Inf(1), math.Inf(-1)
		x := make([]float64, o.Features)
		var walk func(f int)
		walk = func(f int) {
			if f == o.Features {
				raw := m.Raw(x)
				if want := gen.Raw(x); math.Abs(raw-want) > 1e-12 {
					t.Fatalf("seed %d: leaves %v, generator %v", seed, raw, want)
				}
				trueLo, trueHi = min(trueLo, raw), max(trueHi, raw)
				for i := range m.Ensemble.Trees {
					reached[i][m.Ensemble.Trees[i].Leaf(x)] = true
				}
				return
			}
			for _, v := range grids[f] {
				x[f] = v
				walk(f + 1)
			}
		}
		walk(0)
		if trueLo < lo-1e-12 || trueHi > hi+1e-12 {
			t.Fatalf("seed %d: brute force [%v, %v] outside RawRange [%v, %v]", seed, trueLo, trueHi, lo, hi)
		}
		if !got.Exact || math.Abs(got.Lo-trueLo) > 1e-12 || math.Abs(got.Hi-trueHi) > 1e-12 {
			t.Fatalf("seed %d: search [%v, %v] (exact %v), brute force [%v, %v]", seed, got.Lo, got.Hi, got.Exact, trueLo, trueHi)
		}
		allReached := true
		var rLo, rHi float64
		for i := range m.Ensemble.Trees {
			tr := &m.Ensemble.Trees[i]
			if len(reached[i]) != len(tr.LeafValue) {
				allReached = false
				break
			}
			vals := make([]float64, 0, len(reached[i]))
			for l := range reached[i] {
				vals = append(vals, tr.LeafValue[l])
			}
			rLo += slices.Min(vals)
			rHi += slices.Max(vals)
		}
		if allReached {
			equalSeen++
			if math.Abs(rLo-lo) > 1e-12 || math.Abs(rHi-hi) > 1e-12 {
				t.Fatalf("seed %d: reachable leaves give [%v, %v], RawRange [%v, %v]", seed, rLo, rHi, lo, hi)
			}
		}
	}
	if equalSeen == 0 {
		t.Fatal("no generated model had every leaf reachable: the equality check never ran")
	}
	t.Logf("%d of 12 models had every leaf reachable", equalSeen)
}
