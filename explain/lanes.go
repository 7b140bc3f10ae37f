package explain

//go:generate go run gen_lanes.go

// The fixed-width kernels (lanes_gen.go, generated for 2, 3 and 4
// quadrature points) are explainTree specialised so that a polynomial's
// values live in a small struct, which the compiler keeps in registers,
// instead of slices. C and the failed-feature bits are pulled from the
// parent rather than pushed to the children, so leaves cost nothing on
// the way down.
//
// Each comes in two forms. Which formula a node needs (a first split on
// its feature, a repeat, a repeat after the row already failed the
// feature) is fixed by the tree for the first two and by the row for the
// third. The branchy form branches on it: cheapest while the branch
// predictor can learn the model's node sequence. On a large model it
// cannot, and mispredictions, not arithmetic, dominate; there the
// branch-free form evaluates the repeat formula for every node, with
// zPrev = 1 and p = 1 (the tree's base record in Explainer.rep) standing
// for a first split, and folds the failed case in with a 0/1 factor s:
// x·1 + y·0 is exactly x for finite values, so this changes no bit of the
// result. New picks the form by model size (branchyMaxNodes); measured
// on credit-risk-v1 (4,009 nodes) the branchy form is 25% faster, on
// credit-risk-large (49,981 nodes) 12% slower.

// branchyMaxNodes is the largest model, in internal nodes, explained by
// the branchy kernels.
const branchyMaxNodes = 16384

// paddedRule is a quadrature rule padded to 4 lanes for the kernels;
// padding lanes have weight 0, so they carry finite values that never
// count.
type paddedRule struct {
	t, om, w [4]float64
}
