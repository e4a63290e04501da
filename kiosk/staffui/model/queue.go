package model

import (
	"slices"
	"strconv"
	"strings"

	"ombud/kiosk/store/cases"
	"ombud/shared/lifecycle"
	"ombud/shared/textsafe"
	"ombud/shared/trackcode"
)

// StatusFilter selects cases by state: every case, the open ones, or one
// lifecycle state (its name).
type StatusFilter string

const (
	AllStatuses StatusFilter = "all"
	OpenStatus  StatusFilter = "open"
)

// StatusFilters lists the choices in the order the filter form offers them.
func StatusFilters() []StatusFilter {
	out := []StatusFilter{OpenStatus, AllStatuses}
	for _, s := range lifecycle.States() {
		out = append(out, StatusFilter(s))
	}
	return out
}

// States is the store filter's state list ("all": none, meaning any).
func (s StatusFilter) States() []lifecycle.State {
	switch s {
	case AllStatuses, "":
		return nil
	case OpenStatus:
		return slices.DeleteFunc(lifecycle.States(), func(st lifecycle.State) bool { return !st.Open() })
	}
	return []lifecycle.State{lifecycle.State(s)}
}

// Filter is what the queue shows. The zero value shows every case;
// DefaultFilter the open ones, which is what a working day starts with.
type Filter struct {
	Status   StatusFilter
	Category string // category id; "" any
	Priority int    // 1-4; 0 any
	Search   string // tracking code or words (see cases.Filter.Search)
}

// DefaultFilter shows the open cases.
func DefaultFilter() Filter { return Filter{Status: OpenStatus} }

// MaxRows bounds the rows read for the queue: what is due next comes
// first, and nobody scrolls past a thousand cases (they narrow the filter),
// while reading them all would slow every refresh of a large branch.
const MaxRows = 1000

// Store is the filter as the store takes it. A whole tracking code finds
// its case whatever its status: a customer at the counter reading out the
// code of a closed case must not be told there is none.
func (f Filter) Store() cases.Filter {
	states := f.Status.States()
	if f.wholeCode() {
		states = nil
	}
	return cases.Filter{
		States:   states,
		Category: f.Category,
		Priority: f.Priority,
		Search:   strings.TrimSpace(f.Search),
		Limit:    MaxRows,
	}
}

func (f Filter) wholeCode() bool {
	_, err := trackcode.Parse(strings.TrimSpace(f.Search))
	return err == nil
}

// Describe says in a line what the filter shows, e.g.
// `open cases · category billing · search "refund"`.
func (f Filter) Describe(tr Tr) string {
	var parts []string
	switch {
	case f.Status == AllStatuses || f.Status == "" || f.wholeCode():
		parts = append(parts, tr("all cases"))
	default:
		parts = append(parts, tr(string(f.Status)+" cases"))
	}
	if f.Category != "" {
		parts = append(parts, tr("category {category}", "category", textsafe.Line(f.Category)))
	}
	if f.Priority != 0 {
		parts = append(parts, tr("priority {priority}", "priority", f.Priority))
	}
	if s := strings.TrimSpace(f.Search); s != "" {
		parts = append(parts, tr("search {text}", "text", strconv.Quote(textsafe.Line(s))))
	}
	return strings.Join(parts, " · ")
}

// Cases is the queue's rows on screen and which one is selected. The selection
// follows the case, not the position: when a refresh brings new rows (a
// case filed, another one's deadline moved) the same case stays selected.
type Cases struct {
	Filter Filter
	rows   []cases.Row
	sel    string // complaint id of the selected row; "" when none
	idx    int
}

// Rows are the rows, in the store's order (due first).
func (q *Cases) Rows() []cases.Row { return q.rows }

// SetRows replaces the rows, keeping the selected case selected if it is
// still listed, else the row at the same position (the next one down).
func (q *Cases) SetRows(rows []cases.Row) {
	q.rows = rows
	if i := slices.IndexFunc(rows, func(r cases.Row) bool { return r.ComplaintID == q.sel }); i >= 0 && q.sel != "" {
		q.idx = i
		return
	}
	q.Select(q.idx)
}

// Index is the selected row's position; -1 when there are no rows.
func (q *Cases) Index() int {
	if len(q.rows) == 0 {
		return -1
	}
	return q.idx
}

// Selected is the selected row.
func (q *Cases) Selected() (cases.Row, bool) {
	if len(q.rows) == 0 {
		return cases.Row{}, false
	}
	return q.rows[q.idx], true
}

// Select selects row i, clamped to the rows.
func (q *Cases) Select(i int) {
	if len(q.rows) == 0 {
		q.idx, q.sel = 0, ""
		return
	}
	q.idx = max(0, min(i, len(q.rows)-1))
	q.sel = q.rows[q.idx].ComplaintID
}

// SelectID selects the case with complaint id, if listed, and reports
// whether it is; otherwise it remembers id, so the case is selected once a
// refresh lists it (a case just filed).
func (q *Cases) SelectID(id string) bool {
	if i := slices.IndexFunc(q.rows, func(r cases.Row) bool { return r.ComplaintID == id }); i >= 0 {
		q.idx, q.sel = i, id
		return true
	}
	q.sel = id
	return false
}

// Move moves the selection by delta rows.
func (q *Cases) Move(delta int) { q.Select(q.idx + delta) }
