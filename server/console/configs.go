package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"ombud/server/storage"
)

// Administration of the configurations the server also reads from files:
// the SLA calendars (--sla-config: opening hours, holidays, policies) and
// the dispatch rules (--dispatch-config). An administrator edits them here
// (opening hours and holidays by form, either configuration as a whole
// file), each version checked by the file's own parser (the same errors,
// with their line), recorded with who and when, put in force at once, and
// kept: the history shows every version, what changed from the one before,
// and rolls back to any. Which wins over the file is the server's rule
// (server/central/configs.go, README "The web console"): the newest version.

// Configurable is a configuration the console administers; the server
// (package central) provides them.
type Configurable interface {
	// Check validates body with the file loader's checks; the error
	// names the line.
	Check(body []byte) (digest string, err error)
	// Apply puts a checked body in force now.
	Apply(body []byte) error
	// Current is the text in force (nil: the built-in default).
	Current() []byte
}

type configKind struct {
	kind, title, flag, page string
}

var (
	kindSLA      = configKind{storage.ConfigSLA, "SLA calendars", "--sla-config", "admin-sla"}
	kindDispatch = configKind{storage.ConfigDispatch, "Dispatch rules", "--dispatch-config", "admin-dispatch"}
)

func (h *Handler) configurable(k configKind) Configurable {
	if k.kind == storage.ConfigSLA {
		return h.opts.SLA
	}
	return h.opts.Dispatch
}

// MaxConfig bounds a configuration posted at the console.
const MaxConfig = 1 << 20

type configView struct {
	adminView
	Kind     string
	Flag     string
	Current  string
	Body     string // the text in the editor (the current one, or what was posted)
	Versions []storage.ConfigVersion
	Shown    *storage.ConfigVersion // ?show=N
	Diff     []diffLine             // Shown against the version before it
	// The SLA's calendars and holiday lists, for the forms.
	Calendars []calendarForm
	Holidays  []holidayList
	Days      []string
}

type calendarForm struct {
	Name, TimeZone string
	Hours          map[string]string
	Lists          string
}

type holidayList struct {
	Name     string
	Holidays []docHoliday
}

// The SLA file's format, for the forms to edit (shared/sla's doc.go);
// policies and the rest pass through unchanged.
type slaDoc struct {
	Calendars    map[string]docCalendar  `json:"calendars"`
	Holidays     map[string][]docHoliday `json:"holidays,omitempty"`
	Policies     json.RawMessage         `json:"policies"`
	AcceptWithin string                  `json:"accept_within,omitempty"`
}

type docCalendar struct {
	TimeZone string              `json:"time_zone"`
	Hours    map[string][]string `json:"hours"`
	Holidays []string            `json:"holidays,omitempty"`
}

type docHoliday struct {
	Date  string   `json:"date"`
	Name  string   `json:"name,omitempty"`
	Hours []string `json:"hours,omitempty"`
}

var weekDays = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

func (h *Handler) handleSLAPage(w http.ResponseWriter, r *http.Request) {
	h.configPage(w, r, kindSLA, http.StatusOK, "", "")
}

func (h *Handler) handleDispatchPage(w http.ResponseWriter, r *http.Request) {
	h.configPage(w, r, kindDispatch, http.StatusOK, "", "")
}

// configPage renders a configuration's page; body, when not "", is put in
// the editor instead of the text in force (a refused or checked post).
func (h *Handler) configPage(w http.ResponseWriter, r *http.Request, k configKind, status int, body, errMsg string) {
	ctx := r.Context()
	c := h.configurable(k)
	if c == nil {
		h.render(w, r, http.StatusNotFound, "error", h.errView(r, "This server does not administer its "+k.title+" at the console."))
		return
	}
	v := configView{adminView: h.adminBase(r, k.title), Kind: k.kind, Flag: k.flag, Days: weekDays}
	v.Notice, v.Error = noticeOf(r), errMsg
	if body != "" && errMsg == "" {
		v.Notice = "Valid: the file's checks pass. Nothing is applied until you press Apply."
	}
	v.Current = string(c.Current())
	v.Body = v.Current
	if body != "" {
		v.Body = body
	}
	var err error
	if v.Versions, err = h.store.ConfigVersions(ctx, k.kind, 50); err != nil {
		h.fail(w, r, err)
		return
	}
	if n, perr := strconv.ParseInt(r.URL.Query().Get("show"), 10, 64); perr == nil {
		sv, err := h.store.ConfigVersion(ctx, k.kind, n)
		if err != nil && storage.ErrorCode(err) != storage.NotFound {
			h.fail(w, r, err)
			return
		}
		if err == nil {
			v.Shown = &sv
			var before []byte
			if pv, err := h.store.ConfigVersion(ctx, k.kind, n-1); err == nil {
				before = pv.Body
			}
			v.Diff = lineDiff(string(before), string(sv.Body))
		}
	}
	if k.kind == storage.ConfigSLA {
		if doc, err := parseSLADoc([]byte(v.Current)); err == nil {
			for _, name := range sortedKeys(doc.Calendars) {
				cal := doc.Calendars[name]
				cf := calendarForm{Name: name, TimeZone: cal.TimeZone, Hours: map[string]string{}, Lists: strings.Join(cal.Holidays, ", ")}
				for _, d := range weekDays {
					cf.Hours[d] = strings.Join(cal.Hours[d], ", ")
				}
				v.Calendars = append(v.Calendars, cf)
			}
			for _, name := range sortedKeys(doc.Holidays) {
				hs := slices.Clone(doc.Holidays[name])
				slices.SortFunc(hs, func(a, b docHoliday) int { return strings.Compare(a.Date, b.Date) })
				v.Holidays = append(v.Holidays, holidayList{Name: name, Holidays: hs})
			}
		}
	}
	h.render(w, r, status, k.page, v)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func parseSLADoc(b []byte) (slaDoc, error) {
	var d slaDoc
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(&d)
	return d, err
}

// apply checks body and, unless only a check was asked for, records it as
// a new version and puts it in force.
func (h *Handler) apply(w http.ResponseWriter, r *http.Request, k configKind, body []byte, source, note string, checkOnly bool) {
	wh := whoOf(r)
	c := h.configurable(k)
	if c == nil {
		h.render(w, r, http.StatusNotFound, "error", h.errView(r, "This server does not administer its "+k.title+" at the console."))
		return
	}
	if len(body) > MaxConfig {
		h.configPage(w, r, k, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("The configuration is larger than %d bytes; nothing was changed.", MaxConfig))
		return
	}
	digest, err := c.Check(body)
	if err != nil {
		h.configPage(w, r, k, http.StatusUnprocessableEntity, string(body), "Refused, nothing was changed: "+err.Error())
		return
	}
	if checkOnly {
		h.configPage(w, r, k, http.StatusOK, string(body), "")
		return
	}
	if bytes.Equal(bytes.TrimSpace(body), bytes.TrimSpace(c.Current())) {
		http.Redirect(w, r, Prefix+"admin/"+k.kind+"?done="+url.QueryEscape("no change: it is the configuration in force"), http.StatusSeeOther)
		return
	}
	if len(note) > 200 {
		note = note[:200]
	}
	v, err := h.store.AddConfigVersion(r.Context(), storage.ConfigVersion{Kind: k.kind, Body: body, Digest: digest, Source: source,
		StaffID: wh.acct.ID, Note: note, At: h.opts.Now()})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := c.Apply(body); err != nil {
		h.fail(w, r, err)
		return
	}
	detail := fmt.Sprintf("%s version %d in force (%s)", k.title, v.Version, note)
	h.audit(r, wh.acct.ID, "admin_config_"+k.kind, detail)
	http.Redirect(w, r, Prefix+"admin/"+k.kind+"?done="+url.QueryEscape(detail), http.StatusSeeOther)
}

// handleConfigPost: the whole file, checked only or applied.
func (h *Handler) handleConfigPost(w http.ResponseWriter, r *http.Request, k configKind) {
	f := r.PostForm
	body := strings.ReplaceAll(f.Get("body"), "\r\n", "\n")
	note := strings.TrimSpace(f.Get("note"))
	if note == "" {
		note = "edited as a whole file"
	}
	h.apply(w, r, k, []byte(body), storage.SourceConsole, note, f.Get("action") == "check")
}

func (h *Handler) handleSLAPost(w http.ResponseWriter, r *http.Request) {
	h.handleConfigPost(w, r, kindSLA)
}
func (h *Handler) handleDispatchPost(w http.ResponseWriter, r *http.Request) {
	h.handleConfigPost(w, r, kindDispatch)
}

// handleRollback applies an earlier version again, as a new version.
func (h *Handler) handleRollback(w http.ResponseWriter, r *http.Request, k configKind) {
	n, err := strconv.ParseInt(r.PostForm.Get("version"), 10, 64)
	var v storage.ConfigVersion
	if err == nil {
		v, err = h.store.ConfigVersion(r.Context(), k.kind, n)
	}
	if err != nil {
		if _, bad := err.(*strconv.NumError); bad || storage.ErrorCode(err) == storage.NotFound {
			h.configPage(w, r, k, http.StatusUnprocessableEntity, "", "There is no such version to roll back to.")
			return
		}
		h.fail(w, r, err)
		return
	}
	h.apply(w, r, k, v.Body, storage.SourceRollback, fmt.Sprintf("rolled back to version %d", v.Version), false)
}

func (h *Handler) handleSLARollback(w http.ResponseWriter, r *http.Request) {
	h.handleRollback(w, r, kindSLA)
}
func (h *Handler) handleDispatchRollback(w http.ResponseWriter, r *http.Request) {
	h.handleRollback(w, r, kindDispatch)
}

// editSLA changes the SLA file in force with f and applies the result.
func (h *Handler) editSLA(w http.ResponseWriter, r *http.Request, note string, f func(*slaDoc) string) {
	c := h.configurable(kindSLA)
	if c == nil {
		h.render(w, r, http.StatusNotFound, "error", h.errView(r, "This server does not administer its SLA calendars at the console."))
		return
	}
	doc, err := parseSLADoc(c.Current())
	if err != nil {
		h.configPage(w, r, kindSLA, http.StatusUnprocessableEntity, "", "The configuration in force cannot be edited by form ("+err.Error()+"): edit the whole file below.")
		return
	}
	if msg := f(&doc); msg != "" {
		h.configPage(w, r, kindSLA, http.StatusUnprocessableEntity, "", msg)
		return
	}
	body, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.apply(w, r, kindSLA, append(body, '\n'), storage.SourceConsole, note, false)
}

// handleSLAHours sets a calendar's time zone, weekly hours and holiday
// lists (a new calendar, named after a branch, when it does not exist).
func (h *Handler) handleSLAHours(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	name := strings.TrimSpace(f.Get("calendar"))
	h.editSLA(w, r, "opening hours of calendar "+name, func(d *slaDoc) string {
		if name == "" || len(name) > 64 {
			return "A calendar needs a name: a branch id, or \"default\"."
		}
		cal := docCalendar{TimeZone: strings.TrimSpace(f.Get("time_zone")), Hours: map[string][]string{}, Holidays: splitList(f.Get("lists"))}
		for _, day := range weekDays {
			if spans := splitList(f.Get(day)); len(spans) > 0 {
				cal.Hours[day] = spans
			}
		}
		if d.Calendars == nil {
			d.Calendars = map[string]docCalendar{}
		}
		d.Calendars[name] = cal
		return ""
	})
}

// handleSLAHoliday adds a holiday to a list (made if new), or with
// remove=on removes the date from it.
func (h *Handler) handleSLAHoliday(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	list, date := strings.TrimSpace(f.Get("list")), strings.TrimSpace(f.Get("date"))
	remove := f.Get("remove") == "on"
	note := "holiday " + date + " added to list " + list
	if remove {
		note = "holiday " + date + " removed from list " + list
	}
	h.editSLA(w, r, note, func(d *slaDoc) string {
		if list == "" || len(list) > 64 {
			return "A holiday list needs a name (e.g. fr)."
		}
		if _, err := time.Parse("2006-01-02", date); err != nil {
			return "A holiday needs a date as YYYY-MM-DD."
		}
		hs := d.Holidays[list]
		i := slices.IndexFunc(hs, func(x docHoliday) bool { return x.Date == date })
		if remove {
			if i < 0 {
				return "List " + list + " has no holiday on " + date + "."
			}
			d.Holidays[list] = slices.Delete(hs, i, i+1)
			return ""
		}
		if i >= 0 {
			return "List " + list + " already has " + date + " (" + hs[i].Name + "): remove it first."
		}
		name := strings.TrimSpace(f.Get("name"))
		if len(name) > 80 {
			return "A holiday's name is at most 80 characters."
		}
		if d.Holidays == nil {
			d.Holidays = map[string][]docHoliday{}
		}
		d.Holidays[list] = append(hs, docHoliday{Date: date, Name: name, Hours: splitList(f.Get("hours"))})
		return ""
	})
}

// diffLine is one line of a diff: Op is ' ', '+' or '-'.
type diffLine struct {
	Op   string
	Text string
}

// lineDiff is the shortest line diff of a to b (a longest common
// subsequence), for the history's "what changed". Files are small (at most
// MaxConfig, in practice a few hundred lines); past 4,000 lines a side it
// shows the whole of both.
func lineDiff(a, b string) []diffLine {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	if a == "" {
		x = nil
	}
	if len(x) > 4000 || len(y) > 4000 {
		var out []diffLine
		for _, l := range x {
			out = append(out, diffLine{"-", l})
		}
		for _, l := range y {
			out = append(out, diffLine{"+", l})
		}
		return out
	}
	n, m := len(x), len(y)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []diffLine
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case x[i] == y[j]:
			out = append(out, diffLine{" ", x[i]})
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, diffLine{"-", x[i]})
			i++
		default:
			out = append(out, diffLine{"+", y[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, diffLine{"-", x[i]})
	}
	for ; j < m; j++ {
		out = append(out, diffLine{"+", y[j]})
	}
	return out
}
