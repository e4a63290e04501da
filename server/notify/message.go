package notify

import (
	"embed"
	"net/url"

	"ombud/server/delivery"
	"ombud/shared/catalog"
	"ombud/shared/complaint"
	"ombud/shared/trackcode"
)

//go:embed catalogs/*.json
var embedded embed.FS

// LoadCatalogs reads the notifications' words: the embedded English and
// French, then every xx.json in extraDir (when not empty), which adds a
// language or corrects one without a new build (the format of
// shared/catalog; a missing key falls back to English).
func LoadCatalogs(extraDir string) (*catalog.Set, error) {
	return catalog.Load(embedded, "catalogs", extraDir)
}

// Language is the language a complaint's messages are written in: the one
// it was filed in if there is a catalog for it, else English.
func Language(set *catalog.Set, lang string) string {
	if set.Has(lang) {
		return lang
	}
	return catalog.Fallback
}

// render writes the message for one job: its step, the code and the links.
// Nothing else about the complaint goes in.
func (n *Notifier) render(kind Kind, j delivery.Job, c complaint.Complaint, to string) Message {
	set := n.cfg.Catalogs
	lang := Language(set, c.Language)
	code := trackcode.Code(c.Code).String()
	link := n.link(lang, "t", c.Code)
	unsub := n.link(lang, "unsubscribe", n.keys.Token(j.Subject))
	what := set.T(lang, "step."+string(kind))
	m := Message{Key: j.Key, To: to, Language: lang, Unsubscribe: unsub}
	switch j.Channel {
	case SMS:
		m.Text = set.T(lang, "sms.text", "step", what, "code", code, "link", link, "unsubscribe", unsub)
	default:
		m.Subject = set.T(lang, "email.subject."+string(kind), "code", code)
		m.Text = set.T(lang, "email.text", "step", what, "code", code, "link", link, "unsubscribe", unsub)
	}
	return m
}

// link is PublicURL/elem...?lang=lang.
func (n *Notifier) link(lang string, elem ...string) string {
	u := n.base.JoinPath(elem...)
	u.RawQuery = url.Values{"lang": {lang}}.Encode()
	return u.String()
}
