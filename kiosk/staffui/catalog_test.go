package staffui

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"ombud/kiosk/staffui/model"
	"ombud/kiosk/store/signin"
	"ombud/shared/catalog"
	"ombud/shared/lifecycle"
	"ombud/shared/rootcause"
	"ombud/shared/staff"
)

// messagesInCode lists every message the staff screens' code writes: the
// first argument of every tr call (a literal, or a constant of the
// package), inputError's message, and the words of the key and action
// tables (Desc, Short, Name, TextLabel), read from the source (this
// package, its model, and the kiosk program's staff.go), so a
// message added to the code without a catalog entry fails the test.
func messagesInCode(t *testing.T) map[string]string {
	t.Helper()
	found := map[string]string{}
	// The kiosk program's staff.go words the header's sync line.
	for _, pattern := range []string{"*.go", "model/*.go", "../staff.go"} {
		fset := token.NewFileSet()
		files, err := filepath.Glob(pattern)
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: %v, %d files", pattern, err, len(files))
		}
		consts := map[string]string{}
		var parsed []*ast.File
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			parsed = append(parsed, f)
			ast.Inspect(f, func(n ast.Node) bool {
				if vs, ok := n.(*ast.ValueSpec); ok {
					for i, id := range vs.Names {
						if i < len(vs.Values) {
							if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								consts[id.Name], _ = strconv.Unquote(lit.Value)
							}
						}
					}
				}
				return true
			})
		}
		str := func(e ast.Expr) (string, bool) {
			switch v := e.(type) {
			case *ast.BasicLit:
				if v.Kind == token.STRING {
					s, err := strconv.Unquote(v.Value)
					return s, err == nil
				}
			case *ast.Ident:
				s, ok := consts[v.Name]
				return s, ok
			}
			return "", false
		}
		for _, f := range parsed {
			ast.Inspect(f, func(n ast.Node) bool {
				switch v := n.(type) {
				case *ast.CallExpr:
					name := ""
					switch fn := v.Fun.(type) {
					case *ast.Ident:
						name = fn.Name
					case *ast.SelectorExpr:
						name = fn.Sel.Name
					}
					arg := -1
					switch name {
					case "tr":
						arg = 0
					case "inputError":
						arg = 1
					}
					if arg >= 0 && len(v.Args) > arg {
						if s, ok := str(v.Args[arg]); ok {
							found[s] = fset.Position(v.Pos()).String()
						}
					}
				case *ast.KeyValueExpr:
					if k, ok := v.Key.(*ast.Ident); ok && slices.Contains([]string{"Desc", "Short", "Name", "TextLabel"}, k.Name) {
						if s, ok := str(v.Value); ok && s != "" {
							found[s] = fset.Position(v.Pos()).String()
						}
					}
				}
				return true
			})
		}
	}
	return found
}

// messagesOfData lists the messages the screens look up from data: states,
// severities, roles, channels, the lifecycle's and the roles' refusals,
// sign-in errors, the filter's statuses, the closing form's answers, day
// and month names, the table's titles.
func messagesOfData() []string {
	var out []string
	for _, s := range lifecycle.States() {
		out = append(out, string(s))
	}
	for _, s := range model.Severities() {
		out = append(out, string(s))
	}
	for _, r := range staff.Roles() {
		out = append(out, string(r))
	}
	out = append(out, "kiosk", "staff", "customer", "device", "system", "public", "internal",
		"rcv", "ack", "asd", "inv", "rsp", "cls",
		"Due", "Code", "State", "P", "Category", "Queue", "Summary")
	for _, st := range model.StatusFilters() {
		out = append(out, string(st), string(st)+" cases")
	}
	for _, ac := range model.Acceptances() {
		out = append(out, ac.String())
	}
	for _, a := range model.CaseActions() {
		for _, s := range append(lifecycle.States(), lifecycle.None) {
			if why := model.Refusal(model.English, s, staff.Agent, a.Type); why != "" {
				out = append(out, why)
			}
		}
	}
	for _, r := range staff.Roles() {
		for _, a := range model.CaseActions() {
			if why := staff.Why(r, a.Type); why != "" {
				out = append(out, why)
			}
		}
	}
	out = append(out, msgNotListed, labelCategory, labelDesc, labelOutcome, labelName, labelEmail, labelPhone, labelNotice, labelConsent)
	for _, rc := range rootcause.All() {
		out = append(out, rc.Label)
	}
	for _, err := range []error{staff.ErrWrongCredentials, staff.ErrRevoked, staff.ErrOtherBranch, signin.ErrNeverReached} {
		out = append(out, err.Error())
	}
	out = append(out, strings.Fields("Mon Tue Wed Thu Fri Sat Sun Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec")...)
	return out
}

// TestStaffCatalogsComplete: English holds every message the code writes,
// and every catalog holds every key of English's, with its placeholders:
// no screen shows a half-translated line, and a message written in the
// code but never put in the catalogs fails here, not in a branch.
func TestStaffCatalogsComplete(t *testing.T) {
	set, err := LoadCatalogs("")
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for msg, where := range messagesInCode(t) {
		if _, ok := set.Raw(catalog.Fallback, msg); !ok {
			missing = append(missing, strconv.Quote(msg)+" (written at "+where+")")
		}
	}
	for _, msg := range messagesOfData() {
		if _, ok := set.Raw(catalog.Fallback, msg); !ok {
			missing = append(missing, strconv.Quote(msg)+" (from data)")
		}
	}
	sort.Strings(missing)
	missing = slices.Compact(missing)
	for _, m := range missing {
		t.Errorf("en.json has no message %s", m)
	}
	keys := set.Keys(catalog.Fallback)
	if len(keys) < 200 {
		t.Fatalf("English has %d keys: the catalogs were not loaded", len(keys))
	}
	tags := set.Tags()
	for _, want := range []string{"en", "fr", "es"} {
		if !slices.Contains(tags, want) {
			t.Errorf("no %s catalog; have %v", want, tags)
		}
	}
	for _, lang := range tags {
		for _, key := range keys {
			msg, ok := set.Raw(lang, key)
			if !ok {
				t.Errorf("%s.json has no %q", lang, key)
				continue
			}
			if lang == catalog.Fallback && key != catalog.NameKey && msg != key {
				t.Errorf("en.json: %q is the key of %q: an English message is its own key", msg, key)
			}
			if got, want := catalog.Placeholders(msg), catalog.Placeholders(key); !slices.Equal(got, want) {
				t.Errorf("%s.json: %q has placeholders %v, English %v", lang, key, got, want)
			}
		}
		if lang == "fr" { // the taxonomy's own French labels, as the console shows them
			for _, rc := range rootcause.All() {
				if got, _ := set.Raw(lang, rc.Label); got != rc.LabelFR {
					t.Errorf("fr.json: root cause %q is %q, the taxonomy says %q", rc.Label, got, rc.LabelFR)
				}
			}
		}
		for _, key := range set.Keys(lang) {
			if !slices.Contains(keys, key) {
				t.Errorf("%s.json has %q, which English does not (a message the code no longer writes?)", lang, key)
			}
		}
	}
}

// TestStaffCatalogFromDirectory: a translator's file in the directory
// given to LoadCatalogs adds a language without a rebuild.
func TestStaffCatalogFromDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "de.json"), []byte(`{"_language_name": "Deutsch", "Sign in": "Anmelden"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := LoadCatalogs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := set.T("de", "Sign in"); got != "Anmelden" {
		t.Errorf("de: %q", got)
	}
	if got := set.T("de", "Signed out."); got != "Signed out." {
		t.Errorf("a missing key falls back to English: %q", got)
	}
}
