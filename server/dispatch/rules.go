package dispatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"ombud/shared/complaint"
	"ombud/shared/event"
	"ombud/shared/hlc"
	"ombud/shared/uid"
)

// Queue names. They are also the sync scopes a staff terminal subscribes to.
const (
	// FilingBranch, as a rule's queue, means the queue of the branch where
	// the complaint was filed.
	FilingBranch = "branch"
	branchPrefix = "branch:"
	teamPrefix   = "team:"
	// DefaultRule names the decision when no rule matches.
	DefaultRule = "default"
)

// BranchQueue is the queue of a branch: every branch has one.
func BranchQueue(branch string) string { return branchPrefix + branch }

// Team is a team queue declared in the config.
type Team struct {
	ID   string // "billing"
	Name string // for people: "Billing and fees"
}

// Queue is the team's queue name, "team:<id>".
func (t Team) Queue() string { return teamPrefix + t.ID }

// Rules is one loaded config. It is immutable once made, so one value can be
// shared by every goroutine that routes.
type Rules struct {
	teams   []Team
	forward map[string]forward // queue → where its complaints go instead
	rules   []rule
	digest  string
}

type forward struct {
	to   string
	note string
}

type rule struct {
	name       string
	line       int
	queue      string // FilingBranch or a queue name
	categories []string
	branches   []string
	severities []event.Severity
	words      []phrase
	notWords   []phrase
}

func (rl *rule) catchAll() bool {
	return len(rl.categories)+len(rl.branches)+len(rl.severities)+len(rl.words)+len(rl.notWords) == 0
}

var defaultRules = &Rules{digest: DefaultRule}

// Default is the routing with no config: every complaint to its filing
// branch's queue.
func Default() *Rules { return defaultRules }

// Teams lists the declared team queues in file order.
func (r *Rules) Teams() []Team { return slices.Clone(r.teams) }

// Digest identifies the config these rules came from (a prefix of the
// file's SHA-256, or "default"), so logs and /healthz can say which rules
// are live without printing them.
func (r *Rules) Digest() string { return r.digest }

// Len is the number of rules, not counting the default.
func (r *Rules) Len() int { return len(r.rules) }

// Decision is where a complaint goes and why.
type Decision struct {
	Queue string // after forwarding: "branch:<id>" or "team:<id>"
	Rule  string // the rule that chose it; DefaultRule when none matched
	// Reason says which conditions matched and any forwarding, for logs and
	// staff. It quotes the config, never the customer's text.
	Reason string
	Via    []string // queues forwarded through, in order; nil when none
}

// Route decides the queue of complaint c. a is the latest assessment, or nil
// before the complaint has been assessed: rules on severity match only with
// one, and an assessment's corrected category replaces the customer's. The
// first rule that matches wins; with none, the filing branch's queue. Route
// is pure: the same rules and inputs always give the same decision.
func (r *Rules) Route(c complaint.Complaint, a *event.Assessment) Decision {
	if r == nil {
		r = defaultRules
	}
	in := input{c: &c, category: strings.TrimSpace(c.Category)}
	if a != nil {
		in.assessed, in.severity = true, a.Severity
		if cat := strings.TrimSpace(a.Category); cat != "" {
			in.category = cat
		}
	}
	for i := range r.rules {
		rl := &r.rules[i]
		if why, ok := rl.match(&in); ok {
			return r.resolve(rl.name, rl.queue, c.Branch, fmt.Sprintf("rule %q: %s", rl.name, why))
		}
	}
	return r.resolve(DefaultRule, FilingBranch, c.Branch, "no rule matched: the filing branch's queue")
}

type input struct {
	c        *complaint.Complaint
	category string
	assessed bool
	severity event.Severity
	text     [][]string // tokens of description and desired outcome; nil until a rule needs them
}

// tokens are worked out once per Route, and only if some rule has words. The
// two fields are kept apart so a phrase cannot span them.
func (in *input) tokens() [][]string {
	if in.text == nil {
		in.text = [][]string{tokenize(in.c.Description), tokenize(in.c.DesiredOutcome)}
	}
	return in.text
}

func (in *input) has(p phrase) bool {
	return slices.ContainsFunc(in.tokens(), p.in)
}

// match reports whether the rule applies and which conditions made it. Every
// condition given must hold; within one, any listed value will do.
func (rl *rule) match(in *input) (string, bool) {
	var why []string
	if len(rl.categories) > 0 {
		i := slices.IndexFunc(rl.categories, func(c string) bool { return strings.EqualFold(c, in.category) })
		if i < 0 {
			return "", false
		}
		why = append(why, fmt.Sprintf("category %q", rl.categories[i]))
	}
	if len(rl.branches) > 0 {
		if !slices.Contains(rl.branches, in.c.Branch) {
			return "", false
		}
		why = append(why, fmt.Sprintf("branch %q", in.c.Branch))
	}
	if len(rl.severities) > 0 {
		if !in.assessed || !slices.Contains(rl.severities, in.severity) {
			return "", false
		}
		why = append(why, fmt.Sprintf("severity %q", in.severity))
	}
	if len(rl.words) > 0 {
		i := slices.IndexFunc(rl.words, in.has)
		if i < 0 {
			return "", false
		}
		why = append(why, fmt.Sprintf("word %q", rl.words[i].source))
	}
	if len(rl.notWords) > 0 {
		if slices.ContainsFunc(rl.notWords, in.has) {
			return "", false
		}
		why = append(why, `none of its "not_words"`)
	}
	if len(why) == 0 {
		return "matches every complaint", true
	}
	return strings.Join(why, ", "), true
}

// resolve names the queue and follows forwarding. Load refuses loops; the
// bound only keeps a bug from hanging dispatch.
func (r *Rules) resolve(name, queue, branch, reason string) Decision {
	if queue == FilingBranch {
		queue = BranchQueue(branch)
	}
	d := Decision{Queue: queue, Rule: name, Reason: reason}
	for range len(r.forward) {
		f, ok := r.forward[d.Queue]
		if !ok {
			break
		}
		d.Reason += fmt.Sprintf("; %s forwards to %s", d.Queue, f.to)
		if f.note != "" {
			d.Reason += " (" + f.note + ")"
		}
		d.Via = append(d.Via, d.Queue)
		d.Queue = f.to
	}
	return d
}

// Event records decision d for complaint c as an event.Assigned event, with
// the rule's name so routing can be audited. The event carries the filing
// branch like every event of the complaint.
func Event(d Decision, c complaint.Complaint, at hlc.Timestamp, actor event.Actor) (event.Event, error) {
	a := event.Assignment{Queue: d.Queue, Rule: d.Rule}
	switch {
	case c.ID == "" || c.Branch == "":
		return event.Event{}, errors.New("dispatch event: the complaint has no id or no branch")
	case at == 0:
		return event.Event{}, errors.New("dispatch event: no timestamp")
	case d.Rule == "":
		return event.Event{}, errors.New("dispatch event: the decision names no rule")
	case d.Queue == branchPrefix || d.Queue == teamPrefix:
		return event.Event{}, fmt.Errorf("dispatch event: queue %q names no branch or team", d.Queue)
	}
	if err := a.Validate(); err != nil {
		return event.Event{}, fmt.Errorf("dispatch event: %w", err)
	}
	data, err := json.Marshal(a)
	if err != nil {
		return event.Event{}, fmt.Errorf("encode assignment: %w", err)
	}
	return event.Event{
		ID:          uid.NewAt(at.Time()),
		ComplaintID: c.ID,
		Type:        event.Assigned,
		Actor:       actor,
		At:          at,
		Branch:      c.Branch,
		Data:        data,
	}, nil
}
