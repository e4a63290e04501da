-- Team queues: a case routed to team:<id> is worked from that team's
-- terminals, in any branch.
--
-- The teams an account works (comma-separated ids, '' for branch staff).
ALTER TABLE staff ADD COLUMN teams TEXT NOT NULL DEFAULT '';

-- Where each complaint is queued now: the queue of its latest assignment
-- (by clock, then event id, as the fold orders them), kept as events are
-- stored so a push can tell which team may act on a case.
CREATE TABLE complaint_queues (
	complaint_id TEXT PRIMARY KEY,
	queue        TEXT NOT NULL,
	at           INTEGER NOT NULL, -- the assignment's clock
	event_id     TEXT NOT NULL      -- the assignment
) STRICT, WITHOUT ROWID;

-- A team's stream: the events its terminals receive, in the order they
-- joined it (pos, given in commit order like the global sequence). A
-- complaint that joins a team brings its whole history along; its events
-- go on joining while it stays, and the one that moves it away is the
-- last. The cursor of a team scope is a pos, not a global sequence.
CREATE TABLE scope_log (
	pos       INTEGER PRIMARY KEY AUTOINCREMENT,
	scope     TEXT NOT NULL,
	event_seq INTEGER NOT NULL REFERENCES events (seq)
) STRICT;
CREATE INDEX scope_log_scope ON scope_log (scope, pos);
