// Package cases is the server's case engine: it follows the global event log
// and keeps the cases projection (state, queue, SLA deadlines, next deadline
// to watch), routes new complaints with the dispatch rules, and escalates
// cases whose SLA target is breached. It owns no truth of its own: every
// decision it makes is an event appended to the log, and the projection is a
// fold of the log (lifecycle.Fold) that Rebuild can recompute at any time.
//
// # Follower
//
// The follower reads AllEventsAfter from the projection's
// cursor, refolds every complaint the page touches from all its stored
// events, and saves the rows and the new cursor in one transaction
// (storage.Cases.SaveCases, a compare-and-set on the cursor). A crash
// before that commit replays the page; after it, resumes after it. The
// follower wakes on the store's commit feed (every push, append or its own
// assignment) and polls every Config.Poll as a fallback.
//
// The rows' deadlines also depend on the SLA config, which can change
// between runs. The projection records a fingerprint of it (with the fold's
// version) beside the cursor; an engine whose fingerprint differs refolds
// every row in place before its first page or scan, so an edited target
// reaches the cases already stored rather than waiting for their next event.
//
// # Dispatch
//
// An open case with no Assigned event is routed with the rules in force and
// gets an Assigned event from {system, dispatch} naming the rule. A case last
// assigned by dispatch whose assessment is newer than that assignment is
// routed again with the assessment, and re-assigned only if the queue
// changes; a case a person (or the escalation clock) assigned is never
// moved by dispatch.
//
// # Escalation
//
// Tick looks at cases whose next deadline has passed (paging by deadline
// and complaint id, so rows it cannot act on never hide others) and, for
// each target (acknowledge, respond) breached and not paused, appends one
// Escalated event (level: the case's level + 1) and, when
// Config.EscalationQueue is set and the case is elsewhere, an Assigned
// event to that queue, both from {system, sla}. Priority is left as staff
// assessed it; see escalate.go for why.
//
// # Exactly once
//
// Every event the engine makes has an id derived from what caused it (a
// hash of the complaint id, the purpose and the triggering event or target;
// see derivedID). Append is idempotent by event id, so a crash between an
// Append and the cursor commit, a replay after Rebuild, or two engines on
// one database can never store a decision twice.
package cases
