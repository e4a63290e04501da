package dispatch

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"ombud/shared/device"
	"ombud/shared/event"
)

// MaxConfigBytes bounds the config file. Real configs are a few kilobytes;
// the bound keeps a wrong path (a log file, a disk image) from being slurped
// every poll.
const MaxConfigBytes = 1 << 20

// maxProblems bounds how many problems one error lists, so that a mangled
// file gives a readable message rather than a wall.
const maxProblems = 20

// Problem is one thing wrong with a config file.
type Problem struct {
	Line   int    // 1-based line in the file
	Reason string // plain words for the operator; never customer data
}

// ConfigError is a refused config file. It lists every problem found (up to
// a bound), so that one edit can fix them all, in line order.
type ConfigError struct {
	File     string    // empty when the bytes did not come from a file
	Problems []Problem // at least one
}

func (e *ConfigError) Error() string {
	where := "dispatch config"
	if e.File != "" {
		where = e.File
	}
	if len(e.Problems) == 1 {
		p := e.Problems[0]
		return fmt.Sprintf("%s: line %d: %s", where, p.Line, p.Reason)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problems", where, len(e.Problems))
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "; line %d: %s", p.Line, p.Reason)
	}
	return b.String()
}

// Line is the line of the first problem.
func (e *ConfigError) Line() int { return e.Problems[0].Line }

// Load reads and parses the config file at path. A missing file is an error
// that matches fs.ErrNotExist; a refused one is a *ConfigError naming path.
func Load(path string) (*Rules, error) {
	data, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	r, err := Parse(data)
	if ce, ok := errors.AsType[*ConfigError](err); ok {
		ce.File = path
	}
	return r, err
}

func readConfig(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read dispatch config: %w", err)
	}
	return data, nil
}

// Parse reads a config. A refused config is a *ConfigError.
func Parse(data []byte) (*Rules, error) {
	if len(data) > MaxConfigBytes {
		return nil, &ConfigError{Problems: []Problem{{Line: 1, Reason: fmt.Sprintf("the file is larger than %d bytes; is this the dispatch config?", MaxConfigBytes)}}}
	}
	root, prob := parseTree(data)
	if prob != nil {
		return nil, &ConfigError{Problems: []Problem{*prob}}
	}
	l := &loader{data: data}
	r := l.config(root)
	if len(l.problems) > 0 {
		slices.SortStableFunc(l.problems, func(a, b Problem) int { return a.Line - b.Line })
		if len(l.problems) > maxProblems {
			more := len(l.problems) - maxProblems
			l.problems = append(l.problems[:maxProblems], Problem{Line: l.problems[maxProblems].Line, Reason: fmt.Sprintf("and %d more problems", more)})
		}
		return nil, &ConfigError{Problems: l.problems}
	}
	sum := sha256.Sum256(data)
	r.digest = hex.EncodeToString(sum[:6])
	return r, nil
}

// loader decodes the config from the tree, collecting problems rather than
// stopping at the first.
type loader struct {
	data     []byte
	problems []Problem
}

func (l *loader) line(off int) int { return lineAt(l.data, off) }

func (l *loader) addf(off int, format string, args ...any) {
	l.problems = append(l.problems, Problem{Line: l.line(off), Reason: fmt.Sprintf(format, args...)})
}

// object returns the fields of an object by key, refusing unknown and
// repeated keys: a typo ("catgory") must not silently widen a rule.
func (l *loader) object(n *node, what string, known ...string) (map[string]*node, bool) {
	if n.kind != kindObject {
		l.addf(n.off, "%s must be an object {...}, not %s", what, n.kind)
		return nil, false
	}
	fields := make(map[string]*node, len(n.members))
	first := make(map[string]int, len(n.members))
	for _, m := range n.members {
		if !slices.Contains(known, m.key) {
			l.addf(m.off, "unknown field %q in %s (the fields are: %s)", m.key, what, strings.Join(known, ", "))
			continue
		}
		if prev, dup := first[m.key]; dup {
			l.addf(m.off, "field %q is given twice in %s (first on line %d)", m.key, what, l.line(prev))
			continue
		}
		first[m.key] = m.off
		fields[m.key] = m.val
	}
	return fields, true
}

func (l *loader) str(n *node, what string) (string, bool) {
	if n.kind != kindString {
		l.addf(n.off, "%s must be a string in quotes, not %s", what, n.kind)
		return "", false
	}
	return n.str, true
}

func (l *loader) list(n *node, what string) []*node {
	if n.kind != kindArray {
		l.addf(n.off, "%s must be a list [...], not %s", what, n.kind)
		return nil
	}
	return n.elems
}

// required returns the field or reports it missing at the object's line.
func (l *loader) required(fields map[string]*node, key string, obj *node, what string) *node {
	n := fields[key]
	if n == nil {
		l.addf(obj.off, "%s has no %q", what, key)
	}
	return n
}

func (l *loader) config(root *node) *Rules {
	r := &Rules{}
	top, ok := l.object(root, "the config", "queues", "forward", "rules")
	if !ok {
		return r
	}
	teams := make(map[string]int) // id → offset of its declaration
	if n := top["queues"]; n != nil {
		for i, qn := range l.list(n, `"queues"`) {
			if t, ok := l.team(qn, i, teams); ok {
				r.teams = append(r.teams, t)
			}
		}
	}
	if n := top["forward"]; n != nil {
		l.forwarding(r, n, teams)
	}
	if n := top["rules"]; n != nil {
		l.rules(r, n, teams)
	}
	return r
}

func (l *loader) team(n *node, i int, teams map[string]int) (Team, bool) {
	what := fmt.Sprintf("queue %d", i+1)
	f, ok := l.object(n, what, "id", "name")
	if !ok {
		return Team{}, false
	}
	idn := l.required(f, "id", n, what)
	if idn == nil {
		return Team{}, false
	}
	id, ok := l.str(idn, what+` "id"`)
	if !ok {
		return Team{}, false
	}
	if rest, cut := strings.CutPrefix(id, teamPrefix); cut {
		l.addf(idn.off, `%s: write the id without "team:" (%q); rules then route to %q`, what, rest, id)
		return Team{}, false
	}
	if !validTeamID(id) {
		l.addf(idn.off, "%s: id %q must be 1 to %d lower-case letters, digits, - or _", what, id, 64)
		return Team{}, false
	}
	if prev, dup := teams[id]; dup {
		l.addf(idn.off, "team queue %q is declared twice (first on line %d)", id, l.line(prev))
		return Team{}, false
	}
	teams[id] = idn.off
	t := Team{ID: id, Name: id}
	if nn := f["name"]; nn != nil {
		if name, ok := l.str(nn, what+` "name"`); ok {
			if reason := checkLabel(name); reason != "" {
				l.addf(nn.off, "%s: name %s", what, reason)
			} else {
				t.Name = strings.TrimSpace(name)
			}
		}
	}
	return t, true
}

// queueRef checks a queue as written in a rule or a forwarding.
func (l *loader) queueRef(n *node, what string, teams map[string]int, filingAllowed bool) (string, bool) {
	q, ok := l.str(n, what)
	if !ok {
		return "", false
	}
	switch {
	case q == FilingBranch:
		if !filingAllowed {
			l.addf(n.off, `%s: "branch" (the filing branch) is only for rules; forwarding needs a named queue such as "branch:north" or "team:billing"`, what)
			return "", false
		}
	case strings.HasPrefix(q, branchPrefix):
		if reason := checkBranchID(q[len(branchPrefix):]); reason != "" {
			l.addf(n.off, "%s: queue %q: the branch id %s", what, q, reason)
			return "", false
		}
	case strings.HasPrefix(q, teamPrefix):
		if _, ok := teams[q[len(teamPrefix):]]; !ok {
			l.addf(n.off, `%s: unknown queue %q: team queues must be declared in "queues"%s`, what, q, declared(teams))
			return "", false
		}
	default:
		hint := ""
		if _, ok := teams[q]; ok {
			hint = fmt.Sprintf(` (did you mean "team:%s"?)`, q)
		}
		l.addf(n.off, `%s: unknown queue %q: use "branch" (the filing branch), "branch:<branch id>" or a declared team queue "team:<id>"%s`, what, q, hint)
		return "", false
	}
	return q, true
}

func declared(teams map[string]int) string {
	if len(teams) == 0 {
		return " (none are)"
	}
	ids := make([]string, 0, len(teams))
	for id := range teams {
		ids = append(ids, teamPrefix+id)
	}
	slices.Sort(ids)
	return " (declared: " + strings.Join(ids, ", ") + ")"
}

func (l *loader) forwarding(r *Rules, n *node, teams map[string]int) {
	first := make(map[string]int) // from → offset
	var order []string
	r.forward = make(map[string]forward)
	for i, fn := range l.list(n, `"forward"`) {
		what := fmt.Sprintf("forwarding %d", i+1)
		f, ok := l.object(fn, what, "from", "to", "note")
		if !ok {
			continue
		}
		fromN, toN := l.required(f, "from", fn, what), l.required(f, "to", fn, what)
		var from, to string
		okFrom, okTo := false, false
		if fromN != nil {
			from, okFrom = l.queueRef(fromN, what+` "from"`, teams, false)
		}
		if toN != nil {
			to, okTo = l.queueRef(toN, what+` "to"`, teams, false)
		}
		note := ""
		if nn := f["note"]; nn != nil {
			if s, ok := l.str(nn, what+` "note"`); ok {
				if reason := checkLabel(s); reason != "" {
					l.addf(nn.off, "%s: note %s", what, reason)
				}
				note = strings.TrimSpace(s)
			}
		}
		if !okFrom || !okTo {
			continue
		}
		if prev, dup := first[from]; dup {
			l.addf(fromN.off, "%s: queue %q is already forwarded (on line %d); a queue forwards to one place", what, from, l.line(prev))
			continue
		}
		first[from] = fromN.off
		order = append(order, from)
		r.forward[from] = forward{to: to, note: note}
	}
	l.loops(r.forward, order, first)
}

// loops refuses forwarding cycles, naming each once, starting from the queue
// forwarded earliest in the file, at that line. Each queue forwards to at
// most one place, so following the chain from every start finds them all.
func (l *loader) loops(fwd map[string]forward, order []string, first map[string]int) {
	done := make(map[string]bool)
	for _, start := range order {
		pos := make(map[string]int)
		var path []string
		for q := start; !done[q]; {
			if i, seen := pos[q]; seen {
				cycle := path[i:]
				head := 0
				for j, c := range cycle {
					if first[c] < first[cycle[head]] {
						head = j
					}
				}
				named := append(slices.Clone(cycle[head:]), cycle[:head]...)
				named = append(named, named[0])
				l.addf(first[named[0]], "forwarding loop: %s; a complaint sent there would never reach a queue", strings.Join(named, " → "))
				break
			}
			f, ok := fwd[q]
			if !ok {
				break
			}
			pos[q] = len(path)
			path = append(path, q)
			q = f.to
		}
		for _, q := range path {
			done[q] = true
		}
	}
}

func (l *loader) rules(r *Rules, n *node, teams map[string]int) {
	elems := l.list(n, `"rules"`)
	names := make(map[string]int) // lower-cased name → offset
	var broken []bool
	for i, rn := range elems {
		before := len(l.problems)
		what := fmt.Sprintf("rule %d", i+1)
		f, ok := l.object(rn, what, "name", "when", "queue", "note")
		if !ok {
			continue
		}
		rl := rule{line: l.line(rn.off)}
		if nn := l.required(f, "name", rn, what); nn != nil {
			if name, ok := l.str(nn, what+` "name"`); ok {
				name = strings.TrimSpace(name)
				key := strings.ToLower(name)
				switch prev, dup := names[key]; {
				case checkLabel(name) != "":
					l.addf(nn.off, "%s: name %s", what, checkLabel(name))
				case key == DefaultRule:
					l.addf(nn.off, "%s: the name %q is kept for complaints that no rule matches; choose another", what, name)
				case dup:
					l.addf(nn.off, "rule name %q is used twice (first on line %d); routing decisions name their rule, so names must differ", name, l.line(prev))
				default:
					names[key] = nn.off
					rl.name = name
					what = fmt.Sprintf("rule %q", name)
				}
			}
		}
		if qn := l.required(f, "queue", rn, what); qn != nil {
			rl.queue, _ = l.queueRef(qn, what+` "queue"`, teams, true)
		}
		if nn := f["note"]; nn != nil {
			if s, ok := l.str(nn, what+` "note"`); ok && checkLabel(s) != "" {
				l.addf(nn.off, "%s: note %s", what, checkLabel(s))
			}
		}
		if wn := f["when"]; wn != nil {
			l.when(wn, what, &rl)
		}
		if rl.name == "" {
			rl.name = what // only seen in problems: the config is refused
		}
		r.rules = append(r.rules, rl)
		broken = append(broken, len(l.problems) > before)
	}
	for i, rl := range r.rules {
		if i == len(r.rules)-1 || broken[i] || !rl.catchAll() {
			continue
		}
		var after []string
		for _, later := range r.rules[i+1:] {
			after = append(after, fmt.Sprintf("%q", later.name))
		}
		l.problems = append(l.problems, Problem{Line: rl.line, Reason: fmt.Sprintf(
			`rule %q has an empty "when", so it matches every complaint and the rules after it can never apply: %s; move it last`,
			rl.name, strings.Join(after, ", "))})
	}
}

func (l *loader) when(n *node, what string, rl *rule) {
	f, ok := l.object(n, what+` "when"`, "category", "branch", "words", "not_words", "severity")
	if !ok {
		return
	}
	for _, key := range []string{"category", "branch", "words", "not_words", "severity"} {
		ln := f[key]
		if ln == nil {
			continue
		}
		field := fmt.Sprintf(`%s: "%s"`, what, key)
		elems := l.list(ln, field)
		if ln.kind == kindArray && len(elems) == 0 {
			l.addf(ln.off, "%s is an empty list, which nothing can match; leave the field out to match any complaint", field)
			continue
		}
		for i, en := range elems {
			s, ok := l.str(en, fmt.Sprintf("%s entry %d", field, i+1))
			if !ok {
				continue
			}
			bad := func(reason string) { l.addf(en.off, "%s entry %d (%q) %s", field, i+1, s, reason) }
			switch key {
			case "category":
				if c := strings.TrimSpace(s); c == "" {
					bad("is empty")
				} else {
					rl.categories = append(rl.categories, c)
				}
			case "branch":
				if reason := checkBranchID(s); reason != "" {
					bad(reason)
				} else {
					rl.branches = append(rl.branches, s)
				}
			case "severity":
				if sev := event.Severity(s); slices.Contains(severities, sev) {
					rl.severities = append(rl.severities, sev)
				} else {
					bad("is not a severity: use low, medium, high or critical")
				}
			case "words", "not_words":
				p, reason := compilePhrase(s)
				switch {
				case reason != "":
					bad(reason)
				case key == "words":
					rl.words = append(rl.words, p)
				default:
					rl.notWords = append(rl.notWords, p)
				}
			}
		}
	}
}

var severities = []event.Severity{event.SeverityLow, event.SeverityMedium, event.SeverityHigh, event.SeverityCritical}

// compilePhrase turns a rule word into tokens, or says why it cannot match.
func compilePhrase(s string) (phrase, string) {
	body := strings.TrimSpace(s)
	if body == "" {
		return phrase{}, "is empty"
	}
	body, prefix := strings.CutSuffix(body, "*")
	if strings.TrimSpace(body) == "" {
		return phrase{}, "has no letters or digits, so it can never match"
	}
	if strings.Contains(body, "*") {
		return phrase{}, `has a * that is not at the end; a * only ends a word ("refund*")`
	}
	if prefix {
		if last, _ := utf8.DecodeLastRuneInString(body); !unicode.IsLetter(last) && !unicode.IsDigit(last) && !unicode.IsMark(last) {
			return phrase{}, `has a * that does not follow a letter or digit ("refund*")`
		}
	}
	toks := tokenize(body)
	if len(toks) == 0 {
		return phrase{}, "has no letters or digits, so it can never match"
	}
	return phrase{tokens: toks, prefix: prefix, source: strings.TrimSpace(s)}, ""
}

func validTeamID(id string) bool { return device.ValidTeam(id) }

// checkBranchID follows the sync protocol's identifier rule (1-128 bytes, no
// control or format characters), less the room "branch:" takes, and without
// spaces, which no id has and a typo often does.
func checkBranchID(id string) string {
	switch {
	case id == "":
		return "is empty"
	case len(id) > 128-len(branchPrefix):
		return fmt.Sprintf("is longer than %d bytes", 128-len(branchPrefix))
	case strings.ContainsFunc(id, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError
	}):
		return "has spaces, control characters or invalid text"
	}
	return ""
}

// checkLabel vets names and notes, which reach logs and staff screens.
func checkLabel(s string) string {
	switch {
	case strings.TrimSpace(s) == "":
		return "is empty"
	case utf8.RuneCountInString(s) > 200:
		return "is longer than 200 characters"
	case strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError
	}):
		return "has control characters or invalid text"
	}
	return ""
}
