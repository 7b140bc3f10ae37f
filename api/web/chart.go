package web

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// chartLayout fixes the proportions of one drawing of the chart, in SVG
// user units. The SVG scales to its container, so the page carries a wide
// drawing for desktops and a narrow one for phones (CSS shows one): a
// single drawing would have either huge text on a desktop or unreadably
// small text on a phone.
type chartLayout struct {
	Name     string // "wide" or "narrow"; suffixes element ids
	Width    float64
	LabelPx  float64 // font size of feature labels
	SmallPx  float64 // font size of direction labels
	MaxChars int     // label characters per line before wrapping
}

// wideLayout and narrowLayout estimate label widths at 0.56 em per
// character, which holds for common sans-serif fonts with a margin;
// MaxChars follows from that and the usable width.
func wideLayout() chartLayout {
	return chartLayout{Name: "wide", Width: 640, LabelPx: 16, SmallPx: 14, MaxChars: 68}
}

func narrowLayout() chartLayout {
	return chartLayout{Name: "narrow", Width: 360, LabelPx: 15, SmallPx: 13, MaxChars: 40}
}

const (
	chartPad     = 8
	chartTop     = 40 // room for the axis captions
	barHeight    = 20
	chartBottom  = 12
	labelGap     = 8 // between the centre line and a direction label
	minBarLength = 2 // so a tiny contribution is still visible as a bar
)

// chartView is the server-side drawing of the contribution chart, laid
// out in Go so that the template only places precomputed numbers and
// escaped text.
type chartView struct {
	Name          string
	Width, Height string
	Centre        string
	CaptionY      string
	LabelPx       string
	SmallPx       string
	Title, Desc   string
	Rows          []chartRow
}

type chartRow struct {
	Lines            []chartLine // the feature label, wrapped
	BarX, BarY, BarW string
	BarH             string
	Raises           bool
	Direction        string // "raises risk", "lowers risk" or "no effect", in the page language
	Amount           string // size in score points, e.g. "12 points"
	TextX, TextY     string
	Anchor           string
	AxisY1, AxisY2   string // the centre line's segment beside this bar
	Title            string // spoken by screen readers for this bar
	Feature, Value   string
}

type chartLine struct {
	X, Y, Text string
}

// buildChart lays out one diverging bar per contribution, largest effect
// first: risk-raising bars grow right of the centre line (hatched),
// risk-lowering ones left (solid). Each bar's direction is also written
// out in words on the other side of the centre, so the chart does not rely
// on colour or pattern alone.
//
// Sizes are given in score points: a contribution c (log-odds of default)
// moves the score by c times pointsPer (the scale's points per unit of
// log-odds), before the scale's clamp.
func buildChart(cs []Contribution, pointsPer float64, words chartWords, l chartLayout) chartView {
	sorted := slices.Clone(cs)
	slices.SortStableFunc(sorted, func(a, b Contribution) int {
		return cmp.Compare(math.Abs(b.Contribution), math.Abs(a.Contribution))
	})
	maxAbs := 0.0
	for _, c := range sorted {
		if a := math.Abs(c.Contribution); !math.IsNaN(a) && !math.IsInf(a, 0) {
			maxAbs = max(maxAbs, a)
		}
	}
	centre := l.Width / 2
	half := centre - chartPad
	lineH := math.Round(l.LabelPx * 1.3)
	v := chartView{
		Name:     l.Name,
		Width:    num(l.Width),
		Centre:   num(centre),
		CaptionY: num(22),
		LabelPx:  num(l.LabelPx),
		SmallPx:  num(l.SmallPx),
		Title:    words.Title,
	}
	raising, lowering := 0, 0
	y := float64(chartTop)
	for _, c := range sorted {
		x := c.Contribution
		if math.IsNaN(x) || math.IsInf(x, 0) {
			x = 0
		}
		length := 0.0
		if maxAbs > 0 {
			length = math.Abs(x) / maxAbs * half
		}
		length = max(length, minBarLength)
		r := chartRow{Feature: c.Feature, Value: c.Value, Raises: x > 0, Amount: fmt.Sprintf(words.Points, int(math.Round(math.Abs(x)*pointsPer)))}
		for _, text := range wrap(c.Feature+": "+c.Value, l.MaxChars) {
			y += lineH
			r.Lines = append(r.Lines, chartLine{X: num(chartPad), Y: num(y - 0.25*l.LabelPx), Text: text})
		}
		barTop := y + 4
		r.BarY, r.BarH, r.BarW = num(barTop), num(barHeight), num(length)
		r.TextY = num(barTop + barHeight/2 + 0.35*l.SmallPx)
		// The centre line is drawn per bar rather than full height, so it
		// never strikes through a label.
		r.AxisY1, r.AxisY2 = num(barTop-4), num(barTop+barHeight+4)
		switch {
		case x > 0:
			raising++
			r.Direction = words.Raises
			r.BarX = num(centre)
			r.TextX, r.Anchor = num(centre-labelGap), "end"
		case x < 0:
			lowering++
			r.Direction = words.Lowers
			r.BarX = num(centre - length)
			r.TextX, r.Anchor = num(centre+labelGap), "start"
		default:
			r.Direction = words.None
			r.BarX = num(centre - length/2)
			r.TextX, r.Anchor = num(centre+labelGap), "start"
		}
		y = barTop + barHeight + 10
		r.Title = fmt.Sprintf(words.BarFmt, c.Feature, c.Value, r.Direction, r.Amount)
		v.Rows = append(v.Rows, r)
	}
	height := y + chartBottom
	v.Height = num(height)
	v.Desc = fmt.Sprintf(words.DescFmt, len(sorted), raising, lowering)
	return v
}

// wrap breaks text at spaces into lines of at most n characters; a word
// longer than n is cut, since SVG text does not wrap by itself and would
// run off the drawing.
func wrap(text string, n int) []string {
	var lines []string
	var cur []rune
	for _, word := range strings.Fields(text) {
		w := []rune(word)
		for len(w) > n {
			if len(cur) > 0 {
				lines = append(lines, string(cur))
				cur = nil
			}
			lines = append(lines, string(w[:n]))
			w = w[n:]
		}
		switch {
		case len(cur) == 0:
			cur = w
		case len(cur)+1+len(w) <= n:
			cur = append(append(cur, ' '), w...)
		default:
			lines = append(lines, string(cur))
			cur = w
		}
	}
	if len(cur) > 0 || len(lines) == 0 {
		lines = append(lines, string(cur))
	}
	return lines
}

// num formats SVG coordinates with one decimal: enough precision, and
// never exponent notation, which some SVG consumers mis-parse.
func num(x float64) string {
	return strconv.FormatFloat(x, 'f', 1, 64)
}

// signed writes a contribution with an explicit sign, using a true minus
// sign so screen readers say "minus" rather than "hyphen".
func signed(x float64) string {
	s := strconv.FormatFloat(math.Abs(x), 'f', 2, 64)
	switch {
	case s == "0.00":
		return "0.00"
	case x < 0:
		return "−" + s
	default:
		return "+" + s
	}
}
