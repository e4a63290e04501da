// Package dispatch owns routing: which queue a complaint goes to, by which
// rule, and the config file an operator edits to change that without a
// restart. A queue is "branch:<branch id>" (every branch has one) or
// "team:<id>" for a team declared in the config; the names are also the sync
// scopes staff terminals subscribe to, so a routing decision (an
// event.Assigned naming the queue and the rule, see Event) reaches the
// terminals of that queue.
//
// # Routing
//
// Rules are tried in file order and the first that matches wins. With no
// config, or when no rule matches, a complaint goes to its filing branch's
// queue and the rule is named "default". Route is pure; callers route a new
// complaint with no assessment, and route again after an event.Assessed,
// since rules on severity (and the assessor's corrected category) only apply
// then. Whether a re-route may move a case a person has reassigned by hand is
// the caller's decision.
//
// # Config format
//
// One JSON object; every field is optional and {} is the default routing.
// Unknown fields are refused, so that a typo cannot silently widen a rule.
//
//	{
//	  "queues": [                         // team queues, referred to as "team:<id>"
//	    {"id": "billing", "name": "Billing and fees"}   // id: a-z 0-9 - _; name defaults to id
//	  ],
//	  "forward": [                        // a queue whose complaints go elsewhere for now
//	    {"from": "team:billing", "to": "team:billing-cover", "note": "closed for the holidays"}
//	  ],
//	  "rules": [
//	    {
//	      "name": "billing words",        // unique (ignoring case); recorded in the event
//	      "note": "why the rule exists",  // optional, for people
//	      "when": {                       // every field given must hold; any listed value will do
//	        "category":  ["billing"],     // the complaint's category (or the assessor's), ignoring case
//	        "branch":    ["north"],       // the filing branch id
//	        "words":     ["invoice*", "direct debit"],  // in the description or desired outcome
//	        "not_words": ["billboard"],   // and none of these
//	        "severity":  ["high", "critical"]           // low|medium|high|critical; needs an assessment
//	      },
//	      "queue": "team:billing"         // or "branch" (the filing branch's), or "branch:<id>"
//	    }
//	  ]
//	}
//
// (Comments are for this description only; JSON has none. Use "note".)
// testdata/dispatch.example.json is a complete example.
//
// Forwarding applies after a rule (or the default) has chosen a queue, and
// chains: a forwarded queue may forward again. Both ends must be named
// queues ("branch:<id>" or a declared "team:<id>").
//
// # Words
//
// Matching favours recall, because complaints are typed in a hurry at kiosks
// whose keyboards may lack the customer's accents. Both the rule word and the
// text are split into words (runs of letters, digits and combining marks;
// everything else separates), then folded: case is ignored, and accents are
// removed from Latin and Greek letters, so "facturé" matches "FACTURE" and
// "facture" matches "facturé" (French and other languages where an accent
// tells two words apart lose that distinction; for routing that is the
// better error). A rule word matches whole words only: "bill" does not match
// "billion" or "bills"; write "bill*" to match any word starting with
// "bill", or list the forms. A rule word of several words ("direct debit",
// "e-mail") matches them in sequence, whatever punctuation or spacing is
// between them. In scripts written without spaces (Chinese, Japanese, Thai,
// Khmer, ...) each character is a word, so a rule word there matches as a
// substring.
//
// # Refused configs
//
// A config that makes no sense is refused whole, with the line and a plain
// reason for every problem found (a *ConfigError): JSON syntax, unknown or
// repeated fields, wrong types, a queue that is not declared, a team id
// written with its "team:" prefix, a rule with an empty "when" before the
// last rule (it would shadow the rules after it, which are named), repeated
// rule names, the reserved name "default", unknown severities, empty lists,
// empty or punctuation-only words, and forwarding loops (named:
// "team:a → team:b → team:a").
//
// # Reloading
//
// A Watcher holds the rules in force and polls the file. A refused file, or
// one that disappears, leaves the rules in force unchanged; LastError says
// why, and the error is logged once. Reload forces a read (for SIGHUP).
package dispatch
