package notify

import (
	"html/template"
	"net/http"
)

// PathUnsubscribe is the unsubscribe link's route: GET shows a page that
// asks, POST unsubscribes. GET never does (mail scanners open links), and
// POST takes the one-click form mail programs send (RFC 8058) as well as
// the page's button: the token is the authority, so no form token is
// needed.
const PathUnsubscribe = "/unsubscribe/"

// maxUnsubscribeBody bounds a POST's body (the page's form is one field).
const maxUnsubscribeBody = 4 << 10

var unsubscribePage = template.Must(template.New("unsubscribe").Parse(`<!doctype html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<title>{{.Title}}</title>
<link rel="stylesheet" href="/t/track.css">
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<p id="message">{{.Message}}</p>
{{if .Ask}}<form method="post" action="">
<input type="hidden" name="lang" value="{{.Lang}}">
<button type="submit" id="unsubscribe">{{.Button}}</button>
</form>{{end}}
</main>
</body>
</html>
`))

type unsubscribeView struct {
	Lang, Title, Message, Button string
	Ask                          bool
}

// Register mounts the unsubscribe routes on a router.
func (n *Notifier) Register(mux interface{ Handle(string, http.Handler) }) {
	mux.Handle("GET "+PathUnsubscribe+"{token}", http.HandlerFunc(n.handleUnsubscribe))
	mux.Handle("POST "+PathUnsubscribe+"{token}", http.HandlerFunc(n.handleUnsubscribe))
}

func (n *Notifier) handleUnsubscribe(w http.ResponseWriter, r *http.Request) {
	set := n.cfg.Catalogs
	lang := r.URL.Query().Get("lang")
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxUnsubscribeBody)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if l := r.PostForm.Get("lang"); l != "" {
			lang = l
		}
	}
	lang = Language(set, lang)
	v := unsubscribeView{Lang: lang, Title: set.T(lang, "unsubscribe.title")}
	w.Header().Set("Cache-Control", "no-store")
	ck, err := n.keys.ParseToken(r.PathValue("token"))
	switch {
	case err != nil:
		v.Message = set.T(lang, "unsubscribe.invalid")
		n.page(w, http.StatusNotFound, v)
	case r.Method == http.MethodGet:
		v.Message, v.Button, v.Ask = set.T(lang, "unsubscribe.ask"), set.T(lang, "unsubscribe.button"), true
		n.page(w, http.StatusOK, v)
	default:
		if err := n.cfg.Store.Unsubscribe(r.Context(), ck, n.cfg.Now()); err != nil {
			n.log.Error("notify: unsubscribe not recorded", "err", err)
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		// The contact key, never the address: the log is for staff.
		n.log.Info("notify: contact unsubscribed", "contact", ck)
		v.Message = set.T(lang, "unsubscribe.done")
		n.page(w, http.StatusOK, v)
	}
}

func (n *Notifier) page(w http.ResponseWriter, status int, v unsubscribeView) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := unsubscribePage.Execute(w, v); err != nil {
		n.log.Warn("notify: unsubscribe page not written", "err", err)
	}
}
