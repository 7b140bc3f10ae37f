package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/glassbox-ledger/glassbox/api"
	"github.com/glassbox-ledger/glassbox/api/web"
	"github.com/glassbox-ledger/glassbox/decision"
	"github.com/glassbox-ledger/glassbox/explain"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/scoring"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// decisionPath is the real decision path (scoring, TreeSHAP, policy), as
// the test's own approver: independent of the server's.
type decisionPath struct {
	pol *policy.Engine
	m   *scoring.Model
	ex  *decision.Explainers
}

func newDecisionPath(t testing.TB) decisionPath {
	t.Helper()
	pol, err := policy.New(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	m, err := scoring.Load(pkg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pol.AdmitPackage(context.Background(), m.Manifest, m.SHA256, m.Reference); err != nil {
		t.Fatal(err)
	}
	ex, err := decision.NewExplainers(m)
	if err != nil {
		t.Fatal(err)
	}
	return decisionPath{pol, m, ex}
}

func (d decisionPath) decide(ctx context.Context, x []float64) (policy.Decision, error) {
	ev, err := decision.Evaluate(ctx, d.pol, d.m, d.ex, x)
	if err != nil {
		return "", err
	}
	return ev.Outcome.Decision, nil
}

func (d decisionPath) Approves(ctx context.Context, x []float64, _ scoring.Prediction) (bool, error) {
	dec, err := d.decide(ctx, x)
	return dec == policy.Approve, err
}

func (d decisionPath) recourser(t testing.TB) *explain.Recourser {
	t.Helper()
	th, err := d.pol.DecisionThresholds(context.Background(), d.m.Manifest.ID)
	if err != nil {
		t.Fatal(err)
	}
	if th.AmountLimit != 4000 || th.AmountFeature != "Amount" {
		t.Fatalf("policy thresholds %+v", th)
	}
	rc, err := explain.NewRecourser(d.m, explain.Rules{MaxPD: th.ApproveBelow - th.ApproveMargin, Limits: map[string]float64{th.AmountFeature: th.AmountLimit}})
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

func readTestSet(t testing.TB, m *scoring.Model) [][]float64 {
	t.Helper()
	f, err := os.Open("../testdata/credit_test.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := scoring.ReadCSV(f, m.Ensemble.FeatureNames)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// checkPoints lists, per change, both ends and three interior points of
// its interval (every level of a categorical change).
func checkPoints(t testing.TB, m *scoring.Model, c explain.Change) []float64 {
	t.Helper()
	f := m.Manifest.Features[m.Manifest.FeatureIndex(c.Feature)]
	if c.Levels != nil {
		var out []float64
		for _, l := range c.Levels {
			i := -1
			for k, name := range f.Levels {
				if name == l {
					i = k
				}
			}
			if i < 0 {
				t.Fatalf("%s: unknown level %q", c.Feature, l)
			}
			out = append(out, float64(i))
		}
		return out
	}
	lo, hi := *c.Low, *c.High
	return []float64{lo, hi, lo + (hi-lo)/4, lo + (hi-lo)/2, lo + 3*(hi-lo)/4}
}

// TestRecourseOverTestSet: for every adverse decision of the credit test
// set, every suggested interval is re-scored through the real decision
// path at both ends and three interior points (all combinations for two
// features) and must be approved there; every suggestion stays inside the
// manifest's training ranges, satisfies Amount <= Price and changes only
// actionable features.
func TestRecourseOverTestSet(t *testing.T) {
	d := newDecisionPath(t)
	rc := d.recourser(t)
	ctx := context.Background()
	man := d.m.Manifest
	amount, price := man.FeatureIndex("Amount"), man.FeatureIndex("Price")
	adverse, helped, suggestions, checked := 0, 0, 0, 0
	for row, x := range readTestSet(t, d.m) {
		if testing.Short() && row%5 != 0 {
			// -short (the -race pass): a fifth of the rows; the full run
			// covers them all.
			continue
		}
		dec, err := d.decide(ctx, x)
		if err != nil {
			t.Fatalf("row %d: %v", row, err)
		}
		if dec == policy.Approve {
			continue
		}
		adverse++
		cfs, err := rc.Find(ctx, x, d)
		if err != nil {
			t.Fatal(err)
		}
		if len(cfs) > 0 {
			helped++
		}
		suggestions += len(cfs)
		for _, cf := range cfs {
			if cf.Decision != "approve" || len(cf.Changes) == 0 || len(cf.Changes) > 2 {
				t.Errorf("row %d: %+v", row, cf)
			}
			if !strings.HasPrefix(cf.Text, "Based on our current model and policy, an application with ") {
				t.Errorf("row %d: text %q", row, cf.Text)
			}
			for _, c := range cf.Changes {
				f := man.Features[man.FeatureIndex(c.Feature)]
				if f.Recourse == nil || !f.Recourse.Actionable {
					t.Fatalf("row %d: %q changes non-actionable %s", row, cf.Text, c.Feature)
				}
				if c.Levels == nil && (*c.Low < *f.Recourse.Min || *c.High > *f.Recourse.Max || *c.Low > *c.High) {
					t.Errorf("row %d: %s [%v, %v] outside the training range [%v, %v]", row, c.Feature, *c.Low, *c.High, *f.Recourse.Min, *f.Recourse.Max)
				}
			}
			var walk func(k int, y []float64)
			walk = func(k int, y []float64) {
				if k == len(cf.Changes) {
					checked++
					if y[amount] > y[price] {
						t.Errorf("row %d: %q has Amount %v > Price %v", row, cf.Text, y[amount], y[price])
					}
					for i := range y {
						if y[i] != x[i] && !(math.IsNaN(x[i]) && math.IsNaN(y[i])) && !changes(cf, man.Features[i].Name) {
							t.Errorf("row %d: feature %s changed but not stated", row, man.Features[i].Name)
						}
					}
					got, err := d.decide(ctx, y)
					if err != nil || got != policy.Approve {
						t.Errorf("row %d: %q → %v at %v (%v)", row, cf.Text, got, y, err)
					}
					return
				}
				c := cf.Changes[k]
				j := man.FeatureIndex(c.Feature)
				y = append([]float64(nil), y...)
				for _, v := range checkPoints(t, d.m, c) {
					y[j] = v
					walk(k+1, y)
				}
			}
			walk(0, x)
		}
	}
	if (adverse < 100 && !testing.Short()) || adverse == 0 || helped < adverse/2 {
		t.Fatalf("%d adverse decisions, %d with suggestions", adverse, helped)
	}
	t.Logf("%d adverse decisions, %d with suggestions, %d suggestions, %d points re-scored", adverse, helped, suggestions, checked)
}

func changes(cf explain.Counterfactual, name string) bool {
	for _, c := range cf.Changes {
		if c.Feature == name {
			return true
		}
	}
	return false
}

// explanationOut is the recourse part of an explanation.
type explanationOut struct {
	Decision        string                   `json:"decision"`
	Counterfactuals []explain.Counterfactual `json:"counterfactuals"`
	RecourseRecord  string                   `json:"recourse_record"`
	Recourse        string                   `json:"recourse"`
}

func (e *env) explanation(d decisionOut) (explanationOut, []byte) {
	e.t.Helper()
	r := e.do(req{method: "GET", path: "/v1/decisions/" + d.DecisionID + "/explanation", key: d.ApplicantToken})
	if r.status != http.StatusOK {
		e.t.Fatalf("explanation: %d %s", r.status, r.body)
	}
	var ex explanationOut
	r.json(e.t, &ex)
	var raw struct {
		Counterfactuals json.RawMessage `json:"counterfactuals"`
	}
	r.json(e.t, &raw)
	return ex, raw.Counterfactuals
}

// recourseRecords returns the ledger's recourse records for a decision.
func (e *env) recourseRecords(decisionID string) []transparency.Entry {
	e.t.Helper()
	size := e.settle()
	r := e.do(req{method: "GET", path: fmt.Sprintf("/v1/ledger/entries?start=0&count=%d", size), key: keyRegulator})
	if r.status != http.StatusOK {
		e.t.Fatalf("entries: %d %s", r.status, r.body)
	}
	var out struct {
		Entries []struct {
			Index           uint64
			ID              string
			Type            string
			Data            string
			CommittedRecord string `json:"committed_record"`
		}
	}
	r.json(e.t, &out)
	var found []transparency.Entry
	for _, en := range out.Entries {
		if en.Type != string(transparency.TypeRecourse) {
			continue
		}
		// A recourse record names its decision: it is a format 2 leaf,
		// with the record beside it.
		if en.CommittedRecord == "" {
			e.t.Fatalf("recourse entry %d is not a commitment: %s", en.Index, en.Data)
		}
		data, err := base64.StdEncoding.DecodeString(en.CommittedRecord)
		if err != nil {
			e.t.Fatal(err)
		}
		rec, err := transparency.DecodeRecord(data)
		if err != nil {
			e.t.Fatalf("recourse entry %d: %v", en.Index, err)
		}
		if rec.Recourse.DecisionID == decisionID {
			id, _ := transparency.ParseID(en.ID)
			found = append(found, transparency.Entry{Index: en.Index, ID: id, Data: data})
		}
	}
	return found
}

// TestRecourseRecordedOnce: the first explanation records a recourse
// record whose digest matches the suggestions served and whose inclusion
// proof verifies; a second request (and the page) shows the same
// suggestions and adds no record.
func TestRecourseRecordedOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := e.createRisky("recourse-once")
	first, raw := e.explanation(d)
	if len(first.Counterfactuals) == 0 || first.RecourseRecord == "" {
		t.Fatalf("no recourse: %+v", first)
	}
	recs := e.recourseRecords(d.DecisionID)
	if len(recs) != 1 {
		t.Fatalf("%d recourse records after the first request, want 1", len(recs))
	}
	if recs[0].ID.String() != first.RecourseRecord {
		t.Errorf("recourse_record %s, ledger has %s", first.RecourseRecord, recs[0].ID)
	}
	rec, err := transparency.DecodeRecord(recs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	canon, err := transparency.Canonicalize(raw)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(canon)
	if rec.Recourse.Digest != hex.EncodeToString(sum[:]) || rec.Recourse.Suggestions != len(first.Counterfactuals) {
		t.Errorf("record %+v does not match the %d suggestions served (digest %x)", rec.Recourse, len(first.Counterfactuals), sum)
	}
	p, err := e.ledger.WaitIntegrated(context.Background(), recs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	pub := e.do(req{method: "GET", path: "/v1/ledger/public-key"})
	verifier, err := note.NewVerifier(strings.TrimSpace(string(pub.body)))
	if err != nil {
		t.Fatal(err)
	}
	size, root := checkpointNote(t, string(p.Checkpoint.Note), verifier)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.LeafIndex, size, recs[0].ID[:], p.Hashes, root); err != nil {
		t.Fatalf("inclusion proof of the recourse record: %v", err)
	}

	second, raw2 := e.explanation(d)
	if second.RecourseRecord != first.RecourseRecord || !bytes.Equal(raw, raw2) {
		t.Errorf("second request differs:\n%s\n%s", raw, raw2)
	}
	page := e.do(req{method: "GET", path: "/ui/decisions/" + d.DecisionID, headers: map[string]string{"Cookie": api.TokenCookie + "=" + d.ApplicantToken}})
	for _, want := range []string{"not an offer of credit", first.RecourseRecord, html.EscapeString(web.RecourseText("en", e.model.Manifest, first.Counterfactuals[0].Changes))} {
		if !strings.Contains(string(page.body), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := len(e.recourseRecords(d.DecisionID)); n != 1 {
		t.Errorf("%d recourse records after three reads, want 1", n)
	}
	// Approvals get no recourse and no record.
	ok := e.createDecision("recourse-approved")
	if ex, _ := e.explanation(ok); ex.Decision == "approve" && (len(ex.Counterfactuals) != 0 || ex.RecourseRecord != "") {
		t.Errorf("approval has recourse %+v", ex)
	} else if n := len(e.recourseRecords(ok.DecisionID)); n != 0 {
		t.Errorf("approval has %d recourse records", n)
	}
}

// TestRecourseConcurrentFirstRequests: simultaneous first requests share
// one computation and one record.
func TestRecourseConcurrentFirstRequests(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := e.createRisky("recourse-concurrent")
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Go(func() {
			r := e.do(req{method: "GET", path: "/v1/decisions/" + d.DecisionID + "/explanation", key: d.ApplicantToken})
			var ex explanationOut
			if json.Unmarshal(r.body, &ex) == nil {
				got[i] = ex.RecourseRecord
			}
		})
	}
	wg.Wait()
	for _, g := range got {
		if g == "" || g != got[0] {
			t.Fatalf("records %v", got)
		}
	}
	if n := len(e.recourseRecords(d.DecisionID)); n != 1 {
		t.Errorf("%d recourse records, want 1", n)
	}
}

// fixture features in manifest order, NaN for missing.
func fixtureApp(id string, x []float64, m *scoring.Model) map[string]any {
	f := map[string]any{}
	for i, feat := range m.Manifest.Features {
		switch {
		case math.IsNaN(x[i]):
		case feat.Levels != nil:
			f[feat.Name] = feat.Levels[int(x[i])]
		default:
			f[feat.Name] = x[i]
		}
	}
	return map[string]any{"application_id": id, "features": f}
}

// TestRecourseFixtures are the cases the issue reports, through the API:
// every stated interval is then re-scored through the API.
func TestRecourseFixtures(t *testing.T) {
	e := newEnv(t, envOptions{})
	nan := math.NaN()
	for _, tc := range []struct {
		name string
		// x in manifest order: Seniority Home Time Records Job Expenses
		// Income Assets Debt Amount Price.
		x []float64
		// check inspects the suggestions.
		check func(t *testing.T, cfs []explain.Counterfactual)
	}{
		{"term: 6 and 12 months are refused, 18 approves (test row 712)",
			[]float64{1, 2, 60, 0, 3, 45, 160, 4000, 300, 1200, 1265}, func(t *testing.T, cfs []explain.Counterfactual) {
				c := single(t, cfs, "Time")
				if *c.Low <= 12 || *c.Low > 18 || *c.High < 18 {
					t.Errorf("term interval [%v, %v], want it to hold 18 and not 12", *c.Low, *c.High)
				}
			}},
		{"expenses: 70 approves, 50 is refused (test row 317)",
			[]float64{13, 5, 60, 0, 0, 84, 92, 0, 0, 1200, 1271}, func(t *testing.T, cfs []explain.Counterfactual) {
				c := single(t, cfs, "Expenses")
				if *c.Low <= 50 || *c.High < 70 {
					t.Errorf("expenses interval [%v, %v], want it to hold 70 and not 50", *c.Low, *c.High)
				}
			}},
		{"amount-limit referral: Amount 4,200 over the 4,000 limit",
			[]float64{30, 5, 12, 0, 0, 45, 400, 60000, 0, 4200, 4300}, func(t *testing.T, cfs []explain.Counterfactual) {
				c := single(t, cfs, "Amount")
				if *c.High != 4000 {
					t.Errorf("amount interval [%v, %v], want it to end at the limit 4,000", *c.Low, *c.High)
				}
				if cfs[0].Changes[0].Feature != "Amount" {
					t.Errorf("cheapest suggestion is %q, want the amount limit", cfs[0].Text)
				}
			}},
		{"missing Income (test row 881)",
			[]float64{0, 3, 36, 0, 1, 35, nan, 0, 0, 400, 495}, func(t *testing.T, cfs []explain.Counterfactual) {
				c := single(t, cfs, "Income")
				if c.From != nil || !strings.Contains(cfs[0].Text+cfs[1%len(cfs)].Text, "monthly income provided between") {
					t.Errorf("income suggestion %+v does not say to provide it", c)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(req{method: "POST", path: "/v1/decisions", key: keyLender, body: fixtureApp("fixture", tc.x, e.model)})
			var d decisionOut
			r.json(t, &d)
			if r.status != http.StatusCreated || d.Decision == "approve" {
				t.Fatalf("fixture: %d %s", r.status, r.body)
			}
			ex, _ := e.explanation(d)
			if len(ex.Counterfactuals) == 0 {
				t.Fatalf("no suggestions: %q", ex.Recourse)
			}
			tc.check(t, ex.Counterfactuals)
			for _, cf := range ex.Counterfactuals {
				for _, c := range cf.Changes {
					for _, v := range checkPoints(t, e.model, c) {
						y := append([]float64(nil), tc.x...)
						y[e.model.Manifest.FeatureIndex(c.Feature)] = v
						r := e.do(req{method: "POST", path: "/v1/decisions", key: keyLender, body: fixtureApp("fixture-cf", y, e.model)})
						var got decisionOut
						r.json(t, &got)
						if len(cf.Changes) == 1 && got.Decision != "approve" {
							t.Errorf("%q: %s=%v → %s", cf.Text, c.Feature, v, got.Decision)
						}
					}
				}
			}
		})
	}
}

// single returns the one-feature change of feature name among cfs.
func single(t *testing.T, cfs []explain.Counterfactual, name string) explain.Change {
	t.Helper()
	for _, cf := range cfs {
		if len(cf.Changes) == 1 && cf.Changes[0].Feature == name {
			return cf.Changes[0]
		}
	}
	var texts []string
	for _, cf := range cfs {
		texts = append(texts, cf.Text)
	}
	t.Fatalf("no single change of %s among %q", name, texts)
	return explain.Change{}
}
