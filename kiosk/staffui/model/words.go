package model

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Tr translates one message of the staff screens. msg is the English text,
// which is also the message's key in the staff catalogs
// (kiosk/staffui/catalogs/xx.json), with named placeholders such as {code};
// args are name, value pairs. The model writes every word it shows through
// a Tr, so the screens read in the staff member's language.
type Tr func(msg string, args ...any) string

// English is the Tr of the English catalog: the message itself, its
// placeholders filled in.
func English(msg string, args ...any) string { return Fill(msg, args...) }

// Fill replaces msg's {name} placeholders by args' name, value pairs.
func Fill(msg string, args ...any) string {
	if len(args) < 2 || !strings.Contains(msg, "{") {
		return msg
	}
	pairs := make([]string, 0, len(args))
	for i := 0; i+1 < len(args); i += 2 {
		pairs = append(pairs, "{"+fmt.Sprint(args[i])+"}", fmt.Sprint(args[i+1]))
	}
	return strings.NewReplacer(pairs...).Replace(msg)
}

// dateWord matches the English day and month names Go writes for "Mon" and
// "Jan" in a layout.
var dateWord = regexp.MustCompile(`\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b`)

// Date formats t with a Go layout, its day and month names translated
// ("Tue 12 May" is "mar. 12 mai" in French): the catalogs hold the
// abbreviated names as keys.
func Date(tr Tr, t time.Time, layout string) string {
	return dateWord.ReplaceAllStringFunc(t.Format(layout), func(w string) string { return tr(w) })
}
