package console

import (
	"bytes"
	"html/template"
	"net/http"
	"strings"
	"time"

	"ombud/server/storage"
)

// baseView is what every page's layout needs.
type baseView struct {
	Title string
	CSRF  string
	Who   *storage.ConsoleAccount
	// Live turns the live-refresh script on for the page: "reload" (the
	// page reloads on a change) or "banner" (it offers to).
	Live string
	Now  time.Time
}

func (h *Handler) base(r *http.Request, title string) baseView {
	return baseView{Title: title, Now: h.opts.Now()}
}

func (h *Handler) baseFor(r *http.Request, wh *who, title string) baseView {
	b := h.base(r, title)
	if wh != nil {
		b.CSRF = wh.csrf
		// The header's links only once fully signed in: half-way, the
		// page offers the second step and nothing else.
		if wh.sess.Stage == storage.StageFull {
			b.Who = &wh.acct
		}
	}
	return b
}

type errView struct {
	baseView
	Message string
}

func (h *Handler) errView(r *http.Request, msg string) errView {
	return errView{baseView: h.baseFor(r, whoOf(r), "Console"), Message: msg}
}

// render executes a page into a buffer first, so a template error never
// sends half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, v any) {
	var b bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&b, name, v); err != nil {
		h.log.Error("render", "page", name, "err", err)
		http.Error(w, "The console could not show this page.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// fail logs an unexpected error and answers 500 without its detail.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Error("console request failed", "path", r.URL.Path, "err", err)
	h.render(w, r, http.StatusInternalServerError, "error", h.errView(r, "Something went wrong on the server; nothing was changed. Try again in a moment."))
}

var funcs = template.FuncMap{
	"minus1": func(n int64) int64 { return n - 1 },
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.Local().Format("2006-01-02 15:04")
	},
	"iso": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"title": func(s string) string {
		s = strings.ReplaceAll(s, "_", " ")
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
	"due": func(due, now time.Time) string {
		if due.IsZero() {
			return "—"
		}
		d := due.Sub(now)
		late := d < 0
		if late {
			d = -d
		}
		var s string
		switch {
		case d >= 48*time.Hour:
			s = itoa(int(d/(24*time.Hour))) + " days"
		case d >= time.Hour:
			s = itoa(int(d/time.Hour)) + " h"
		default:
			s = itoa(int(d/time.Minute)) + " min"
		}
		if late {
			return s + " overdue"
		}
		return "in " + s
	},
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}
