package kpi

import (
	"fmt"
	"sort"
)

// Heat is the branch-by-category counts of a period: the branches and
// categories with the most complaints first (at most MaxHeatRows and
// MaxHeatCols; the rest summed into "other").
type Heat struct {
	Branches   []string
	Categories []string
	Counts     [][]int64 // Counts[branch][category]
	Max        int64
}

// Heat map bounds.
const (
	MaxHeatRows = 15
	MaxHeatCols = 8
	heatOther   = "(other)"
)

// HeatOf sums day rows into a heat map.
func HeatOf(rows []DayRow) Heat {
	byB, byC := map[string]int64{}, map[string]int64{}
	cell := map[[2]string]int64{}
	for _, r := range rows {
		byB[r.Branch] += r.Received
		byC[r.Category] += r.Received
		cell[[2]string{r.Branch, r.Category}] += r.Received
	}
	top := func(m map[string]int64, n int) ([]string, map[string]string) {
		keys := make([]string, 0, len(m))
		for k, v := range m {
			if v > 0 {
				keys = append(keys, k)
			}
		}
		sort.Slice(keys, func(i, j int) bool {
			if m[keys[i]] != m[keys[j]] {
				return m[keys[i]] > m[keys[j]]
			}
			return keys[i] < keys[j]
		})
		as := map[string]string{}
		if len(keys) > n {
			for _, k := range keys[n-1:] {
				as[k] = heatOther
			}
			keys = append(keys[:n-1], heatOther)
		}
		for _, k := range keys {
			if _, ok := as[k]; !ok {
				as[k] = k
			}
		}
		return keys, as
	}
	var h Heat
	var bAs, cAs map[string]string
	h.Branches, bAs = top(byB, MaxHeatRows)
	h.Categories, cAs = top(byC, MaxHeatCols)
	bi, ci := map[string]int{}, map[string]int{}
	for i, b := range h.Branches {
		bi[b] = i
	}
	for i, c := range h.Categories {
		ci[c] = i
	}
	h.Counts = make([][]int64, len(h.Branches))
	for i := range h.Counts {
		h.Counts[i] = make([]int64, len(h.Categories))
	}
	for k, v := range cell {
		b, c := bi[bAs[k[0]]], ci[cAs[k[1]]]
		if _, ok := bAs[k[0]]; !ok {
			continue
		}
		h.Counts[b][c] += v
		h.Max = max(h.Max, h.Counts[b][c])
	}
	return h
}

// heatPalette runs from few to many (colour-blind safe blues).
var heatPalette = []string{"#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"}

// Chart draws the heat map: a row per branch, a column per category, the
// darker the more complaints.
func (h Heat) Chart() Chart {
	const rowH, labelW, top = 18, 110, 10
	colW := 0
	if len(h.Categories) > 0 {
		colW = (chartW - labelW - padR) / len(h.Categories)
	}
	c := Chart{W: chartW, H: top + rowH*len(h.Branches) + padB, Max: h.Max}
	for bi, b := range h.Branches {
		y := top + bi*rowH
		c.YTicks = append(c.YTicks, Tick{X: labelW - 4, Y: y + rowH/2, Label: b})
		for ci, cat := range h.Categories {
			n := h.Counts[bi][ci]
			k := 0
			if h.Max > 0 && n > 0 {
				k = 1 + int(int64(len(heatPalette)-2)*n/h.Max)
			}
			c.Rects = append(c.Rects, Rect{X: labelW + ci*colW, Y: y, W: colW - 1, H: rowH - 1, Fill: heatPalette[k],
				Title: fmt.Sprintf("%s, %s: %d", b, cat, n)})
		}
	}
	for ci, cat := range h.Categories {
		c.XTicks = append(c.XTicks, Tick{X: labelW + ci*colW + colW/2, Y: top + rowH*len(h.Branches) + 14, Label: cat})
	}
	return c
}
