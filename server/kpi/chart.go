package kpi

import (
	"strconv"
	"strings"
)

// Charts are drawn on the server as SVG (no script): this file works out
// the geometry from the numbers, and the page's template writes the
// elements, so every label passes through html/template's escaping. Each
// chart is shown with its table and a sentence, for people who cannot see
// it and for print.

// Chart geometry, in SVG user units (the SVG scales to its box).
const (
	chartW, chartH = 640, 220
	padL, padR     = 40, 10
	padT, padB     = 10, 40
)

// Rect is one bar (or a segment of a stacked bar).
type Rect struct {
	X, Y, W, H int
	Fill       string // the series' colour (a fixed palette, never input)
	Title      string // shown on hover and read by screen readers
}

// Tick is a label on an axis.
type Tick struct {
	X, Y  int
	Label string
}

// Chart is what the template draws.
type Chart struct {
	W, H   int
	Rects  []Rect
	Points string // a polyline, "x,y x,y ..."; "" for bar charts
	Dots   []Tick // the polyline's points with their values
	XTicks []Tick
	YTicks []Tick
	Legend []Legend
	Max    int64
}

func (c *Chart) plot() (x0, y0, w, h int) { return padL, padT, c.W - padL - padR, c.H - padT - padB }

// niceMax rounds m up to 1, 2 or 5 times a power of ten (at least 1).
func niceMax(m int64) int64 {
	if m < 1 {
		return 1
	}
	p := int64(1)
	for p*10 <= m {
		p *= 10
	}
	for _, k := range []int64{1, 2, 5, 10} {
		if k*p >= m {
			return k * p
		}
	}
	return 10 * p
}

func (c *Chart) yTicks(max int64, format func(int64) string) {
	x0, y0, _, h := c.plot()
	// Whole-number steps only: four when they divide evenly, else two or one.
	n := int64(1)
	switch {
	case max%4 == 0:
		n = 4
	case max%2 == 0:
		n = 2
	}
	for i := int64(0); i <= n; i++ {
		v := max * i / n
		c.YTicks = append(c.YTicks, Tick{X: x0 - 4, Y: y0 + h - int(int64(h)*i/n), Label: format(v)})
	}
}

// Stacked is a stacked bar chart: one bar per label, one segment per
// series (values[series][label]).
func Stacked(labels, series []string, values [][]int64) Chart {
	c := Chart{W: chartW, H: chartH}
	x0, y0, w, h := c.plot()
	var max int64
	for li := range labels {
		var sum int64
		for si := range series {
			sum += values[si][li]
		}
		max = maxInt(max, sum)
	}
	max = niceMax(max)
	c.Max = max
	c.yTicks(max, func(v int64) string { return strconv.FormatInt(v, 10) })
	n := len(labels)
	if n == 0 {
		return c
	}
	slot := w / n
	bw := slot * 2 / 3
	for li, l := range labels {
		x := x0 + li*slot + (slot-bw)/2
		base := y0 + h
		for si, s := range series {
			v := values[si][li]
			if v == 0 {
				continue
			}
			bh := int(int64(h) * v / max)
			base -= bh
			c.Rects = append(c.Rects, Rect{X: x, Y: base, W: bw, H: bh, Fill: fill(si), Title: l + ", " + s + ": " + strconv.FormatInt(v, 10)})
		}
		c.XTicks = append(c.XTicks, Tick{X: x + bw/2, Y: y0 + h + 16, Label: l})
	}
	for si, s := range series {
		c.Legend = append(c.Legend, Legend{Fill: fill(si), Label: s})
	}
	return c
}

// Bars is a bar chart of one series.
func Bars(labels []string, values []int64) Chart {
	return Stacked(labels, []string{""}, [][]int64{values})
}

// Percent is a line chart of shares (0 to 1) with gaps where a share is
// undefined.
func Percent(labels []string, shares []Ratio) Chart {
	c := Chart{W: chartW, H: chartH, Max: 100}
	x0, y0, w, h := c.plot()
	c.yTicks(100, func(v int64) string { return strconv.FormatInt(v, 10) + "%" })
	n := len(labels)
	if n == 0 {
		return c
	}
	slot := w / n
	var pts []string
	for i, l := range labels {
		x := x0 + i*slot + slot/2
		c.XTicks = append(c.XTicks, Tick{X: x, Y: y0 + h + 16, Label: l})
		r := shares[i]
		if !r.Valid() {
			continue
		}
		y := y0 + h - int(float64(h)*r.Value()+0.5)
		pts = append(pts, strconv.Itoa(x)+","+strconv.Itoa(y))
		c.Dots = append(c.Dots, Tick{X: x, Y: y, Label: l + ": " + r.String()})
	}
	c.Points = strings.Join(pts, " ")
	return c
}

// Legend names a series and its colour.
type Legend struct{ Fill, Label string }

// palette is Okabe and Ito's, told apart by people with colour blindness;
// series beyond eight repeat it (the table behind the chart names them).
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"}

func fill(i int) string { return palette[i%len(palette)] }

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
