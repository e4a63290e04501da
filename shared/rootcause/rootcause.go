// Package rootcause owns the taxonomy of root causes a closed complaint is
// filed under (ISO 10002 9.2, 9.7): a short list of codes every terminal
// and the console offer, plus "other: <text>" for a cause the list lacks.
//
// The taxonomy is managed here, in one place, so every node judges a
// closure the same way: a code, once published, never changes meaning or
// disappears (old closures keep reading); a retired code is marked Retired
// and no longer offered. Adding a code is a change to this file (reviewed,
// released to terminals and server together); until a terminal has the
// new release it offers the older list, which stays valid.
package rootcause

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"ombud/shared/textsafe"
)

// Cause is one entry of the taxonomy.
type Cause struct {
	Code    string // stable, stored in events
	Label   string // English, for the console and reports
	LabelFR string // French
	Retired bool   // still valid in stored closures, no longer offered
}

// OtherPrefix starts a cause the taxonomy lacks: "other: <text>".
const OtherPrefix = "other:"

// MaxOther bounds the text of an "other" cause.
const MaxOther = 200

// taxonomy is the managed list, in the order it is offered.
var taxonomy = []Cause{
	{"process", "Process or procedure failed", "Processus ou procédure en défaut", false},
	{"policy", "Policy or terms unclear or unfair", "Règle ou conditions peu claires ou injustes", false},
	{"staff-conduct", "Staff conduct or attitude", "Comportement du personnel", false},
	{"staff-knowledge", "Staff knowledge or training", "Connaissances ou formation du personnel", false},
	{"communication", "Information missing or misleading", "Information manquante ou trompeuse", false},
	{"system-outage", "IT system outage or defect", "Panne ou défaut informatique", false},
	{"equipment", "Equipment or terminal fault", "Panne d'équipement ou de terminal", false},
	{"third-party", "Third party or supplier", "Tiers ou fournisseur", false},
	{"pricing", "Fees or pricing", "Frais ou tarification", false},
	{"capacity", "Staffing or capacity (waiting time)", "Effectifs ou capacité (attente)", false},
	{"customer-error", "Customer misunderstanding, no fault found", "Malentendu du client, pas de faute", false},
	{"fraud", "Fraud or security incident", "Fraude ou incident de sécurité", false},
}

// All returns the causes offered (not retired), in order.
func All() []Cause {
	out := make([]Cause, 0, len(taxonomy))
	for _, c := range taxonomy {
		if !c.Retired {
			out = append(out, c)
		}
	}
	return out
}

// Lookup returns the cause with code.
func Lookup(code string) (Cause, bool) {
	for _, c := range taxonomy {
		if c.Code == code {
			return c, true
		}
	}
	return Cause{}, false
}

// ErrInvalid is what Validate returns (wrapped) for a cause outside the
// taxonomy.
var ErrInvalid = errors.New("root cause is not in the taxonomy")

// Validate checks a stored root cause: a code of the taxonomy (retired
// ones included: old closures stay valid), or "other: <text>" with clean
// text of 1 to MaxOther characters on one line.
func Validate(v string) error {
	if text, ok := strings.CutPrefix(v, OtherPrefix); ok {
		text = strings.TrimSpace(text)
		switch {
		case text == "":
			return fmt.Errorf("%w: \"other\" needs a description", ErrInvalid)
		case utf8.RuneCountInString(text) > MaxOther:
			return fmt.Errorf("%w: \"other\" is longer than %d characters", ErrInvalid, MaxOther)
		case !textsafe.IsClean(text) || strings.ContainsAny(text, "\r\n"):
			return fmt.Errorf("%w: \"other\" holds control characters or line breaks", ErrInvalid)
		}
		return nil
	}
	if _, ok := Lookup(v); !ok {
		return fmt.Errorf("%w: unknown code %.40q", ErrInvalid, v)
	}
	return nil
}

// Other makes the stored form of a cause the taxonomy lacks, from a
// person's text (cleaned, one line); "" when nothing is left.
func Other(text string) string {
	text = strings.Join(strings.Fields(textsafe.Line(text)), " ")
	if text == "" {
		return ""
	}
	if r := []rune(text); len(r) > MaxOther {
		text = string(r[:MaxOther])
	}
	return OtherPrefix + " " + text
}

// Label names a stored cause for people ("Other: …" for other causes; the
// code itself for one this release does not know).
func Label(v string) string {
	if text, ok := strings.CutPrefix(v, OtherPrefix); ok {
		return "Other: " + strings.TrimSpace(text)
	}
	if c, ok := Lookup(v); ok {
		return c.Label
	}
	return v
}

// Key groups stored causes for counting: the code, or "other" for every
// "other: …" cause.
func Key(v string) string {
	if strings.HasPrefix(v, OtherPrefix) {
		return "other"
	}
	return v
}
