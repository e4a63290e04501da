package staffui

import (
	"strings"
	"time"

	"github.com/gdamore/tcell/v2"
	"github.com/rivo/tview"

	"ombud/kiosk/staffui/model"
	"ombud/shared/textsafe"
)

// caseTable draws the queue: one row per case, due first, the selected row
// highlighted. It reads the rows and the selection from a model.Cases and
// changes only the selection; opening a case is the app's (open).
type caseTable struct {
	*tview.Box
	q      *model.Cases
	now    func() time.Time
	loc    *time.Location
	open   func()
	offset int
	empty  string // shown when there are no rows
	// label turns a category id into the label the filter and the forms
	// show ("Billing and charges", not "billing"); nil shows the id.
	label func(id string) string
	// tr words the titles, states and dates (English when nil).
	tr model.Tr
}

// column is one column of the table. Widths are columns of the screen;
// the summary takes what is left.
type column struct {
	title    string
	min, max int
	text     func(model.RowView) string
}

var columns = []column{
	{"Due", 12, 12, func(v model.RowView) string { return v.Due }},
	{"", 4, 4, func(v model.RowView) string { return v.Flags }},
	{"Code", 14, 14, func(v model.RowView) string { return v.Code }},
	{"State", 4, 13, func(v model.RowView) string { return v.State }},
	{"P", 2, 2, func(v model.RowView) string { return v.Priority }},
	{"Category", 8, 24, func(v model.RowView) string { return v.Category }},
	{"Queue", 6, 16, func(v model.RowView) string { return v.Queue }},
	{"Summary", 10, 1 << 20, func(v model.RowView) string { return v.Summary }},
}

// widths fits the columns into width: minimums first, then the category
// and queue grow a little, and the summary takes the rest.
func widths(width int) []int {
	ws := make([]int, len(columns))
	used := len(columns) - 1 // one space between columns
	for i, c := range columns {
		ws[i] = c.min
		used += c.min
	}
	// Below 100 columns the due column is the day ("23 Nov"), or the
	// time for what is due today: the queue is sorted by it and "!" marks
	// what is late, so the summary gets the six columns (about 20 at 80).
	if width < 100 {
		ws[0] = shortDue
		used -= columns[0].min - shortDue
	}
	extra := max(0, width-used)
	state, cat, queue, summary := 3, 5, 6, 7
	grow := func(i, n int) {
		n = min(n, columns[i].max-ws[i], extra)
		ws[i] += n
		extra -= n
	}
	// Up to 130 columns the state is its short form ("inv", as the counts
	// line has it); the category and queue get enough to be read, then
	// the summary most of what is left.
	if width >= 130 {
		grow(state, columns[state].max-columns[state].min)
	}
	grow(cat, 4)   // "Waiting time", most labels whole
	grow(queue, 5) // "escalations", a branch id
	grow(summary, 20-ws[summary])
	grow(cat, extra/6)
	grow(queue, extra/8)
	grow(summary, extra)
	return ws
}

// shortDue is the due column's width below 100 columns.
const shortDue = 6

// shortStates are the states in four columns, as the counts line has them.
var shortStates = map[string]string{
	"received": "rcv", "acknowledged": "ack", "assessed": "asd",
	"investigating": "inv", "responded": "rsp", "closed": "cls",
}

// queueName drops the "team:" of a team queue and the "branch:" of a
// branch's own: the column is narrow, and the case screen says the rest.
func queueName(q string) string {
	for _, kind := range []string{"team:", "branch:"} {
		if rest, ok := strings.CutPrefix(q, kind); ok && rest != "" {
			return rest
		}
	}
	return q
}

func newCaseTable(q *model.Cases, now func() time.Time, loc *time.Location, open func()) *caseTable {
	t := &caseTable{Box: tview.NewBox(), q: q, now: now, loc: loc, open: open, empty: "No cases.", tr: model.English}
	t.SetBackgroundColor(tcell.ColorBlack)
	return t
}

// title is column i's title in the terminal's language.
func (t *caseTable) title(i int) string {
	switch columns[i].title {
	case "Due":
		return t.tr("Due")
	case "Code":
		return t.tr("Code")
	case "State":
		return t.tr("State")
	case "P":
		return t.tr("P")
	case "Category":
		return t.tr("Category")
	case "Queue":
		return t.tr("Queue")
	case "Summary":
		return t.tr("Summary")
	}
	return columns[i].title
}

func (t *caseTable) Draw(screen tcell.Screen) {
	t.DrawForSubclass(screen, t)
	x, y, w, h := t.GetInnerRect()
	if w <= 0 || h <= 0 {
		return
	}
	ws := widths(w)
	shortState := ws[3] < len("investigating")
	drawRow := func(y int, texts func(i int) []span, fill tcell.Style) {
		cx := x
		for i, cw := range ws {
			if cx >= x+w {
				break
			}
			cw = min(cw, x+w-cx)
			putText(screen, cx, y, cw, texts(i), fill)
			cx += cw
			if cx < x+w {
				screen.SetContent(cx, y, ' ', nil, fill)
				cx++
			}
		}
		for ; cx < x+w; cx++ {
			screen.SetContent(cx, y, ' ', nil, fill)
		}
	}
	drawRow(y, func(i int) []span { return []span{sp(t.title(i), styleBarBold)} }, styleBar)

	rows := t.q.Rows()
	body := h - 1
	if len(rows) == 0 {
		putText(screen, x, y+1, w, []span{{t.empty, styleDim}}, styleText)
		for i := 2; i < h; i++ {
			putText(screen, x, y+i, w, nil, styleText)
		}
		return
	}
	sel := t.q.Index()
	if sel < t.offset {
		t.offset = sel
	}
	if sel >= t.offset+body {
		t.offset = sel - body + 1
	}
	t.offset = max(0, min(t.offset, len(rows)-body))
	now := t.now()
	for i := 0; i < body; i++ {
		n := t.offset + i
		if n >= len(rows) {
			putText(screen, x, y+1+i, w, nil, styleText)
			continue
		}
		v := model.ViewRow(t.tr, rows[n], now, t.loc)
		if t.label != nil && v.Category != "" {
			v.Category = textsafe.Line(t.label(rows[n].Category))
		}
		v.Queue = queueName(v.Queue)
		if due := rows[n].DueAt; ws[0] < columns[0].min && !due.IsZero() {
			due = due.In(t.loc)
			if y1, m1, d1 := due.Date(); now.In(t.loc).Year() == y1 && now.In(t.loc).Month() == m1 && now.In(t.loc).Day() == d1 {
				v.Due = due.Format("15:04")
			} else {
				v.Due = model.Date(t.tr, due, "02 Jan")
			}
		}
		if s, ok := shortStates[v.State]; ok && shortState {
			v.State = t.tr(s)
		} else {
			v.State = t.tr(v.State)
		}
		base, late := styleText, styleLate
		if n == sel {
			base, late = styleSelected, styleSelected.Foreground(tcell.ColorMaroon).Bold(true)
		}
		drawRow(y+1+i, func(c int) []span {
			style := base
			if v.Overdue && c <= 1 {
				style = late
			}
			return []span{sp(columns[c].text(v), style)}
		}, base)
	}
}

func (t *caseTable) InputHandler() func(*tcell.EventKey, func(tview.Primitive)) {
	return t.WrapInputHandler(func(ev *tcell.EventKey, _ func(tview.Primitive)) {
		_, _, _, h := t.GetInnerRect()
		page := max(1, h-2)
		switch {
		case ev.Key() == tcell.KeyUp || ev.Key() == tcell.KeyRune && ev.Rune() == 'k':
			t.q.Move(-1)
		case ev.Key() == tcell.KeyDown || ev.Key() == tcell.KeyRune && ev.Rune() == 'j':
			t.q.Move(1)
		case ev.Key() == tcell.KeyPgUp:
			t.q.Move(-page)
		case ev.Key() == tcell.KeyPgDn:
			t.q.Move(page)
		case ev.Key() == tcell.KeyHome || ev.Key() == tcell.KeyRune && ev.Rune() == 'g':
			t.q.Select(0)
		case ev.Key() == tcell.KeyEnd || ev.Key() == tcell.KeyRune && ev.Rune() == 'G':
			t.q.Select(len(t.q.Rows()) - 1)
		case ev.Key() == tcell.KeyEnter:
			if t.open != nil {
				t.open()
			}
		}
	})
}

func (t *caseTable) MouseHandler() func(tview.MouseAction, *tcell.EventMouse, func(tview.Primitive)) (bool, tview.Primitive) {
	return t.WrapMouseHandler(func(action tview.MouseAction, ev *tcell.EventMouse, setFocus func(tview.Primitive)) (bool, tview.Primitive) {
		mx, my := ev.Position()
		if !t.InRect(mx, my) {
			return false, nil
		}
		_, y, _, _ := t.GetInnerRect()
		row := t.offset + my - y - 1
		switch action {
		case tview.MouseScrollUp:
			t.q.Move(-3)
		case tview.MouseScrollDown:
			t.q.Move(3)
		case tview.MouseLeftDown:
			setFocus(t)
		case tview.MouseLeftClick:
			if my > y && row < len(t.q.Rows()) {
				t.q.Select(row)
			}
		case tview.MouseLeftDoubleClick:
			if my > y && row < len(t.q.Rows()) {
				t.q.Select(row)
				if t.open != nil {
					t.open()
				}
			}
		default:
			return false, nil
		}
		return true, nil
	})
}
