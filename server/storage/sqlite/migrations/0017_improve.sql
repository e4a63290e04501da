-- The improvement loop beyond the figures (server/improve).
--
-- kpi_facts gain the root cause staff recorded when closing (ISO 10002
-- 9.7), for the corrective actions' effectiveness check; the follower's
-- version changes with it (kpi/v2), so the facts are refolded from the log.
ALTER TABLE kpi_facts ADD COLUMN root_cause TEXT NOT NULL DEFAULT '';
CREATE INDEX kpi_facts_cause ON kpi_facts (root_cause, filed_at);

-- Corrective actions: each an append-only series of events with an actor
-- and a time, folded by server/improve. Never updated or deleted. seq is
-- AUTOINCREMENT so a value is never given twice.
CREATE TABLE action_events (
	seq       INTEGER PRIMARY KEY AUTOINCREMENT,
	id        TEXT NOT NULL UNIQUE,
	action_id TEXT NOT NULL,
	type      TEXT NOT NULL,
	actor_id  TEXT NOT NULL,
	at        INTEGER NOT NULL, -- Unix nanoseconds
	data      BLOB NOT NULL
) STRICT;
CREATE INDEX action_events_action ON action_events (action_id, seq);

-- A supervisor's choices about recurring groups (server/recurring):
-- dismiss the group holding a complaint, merge it into the group holding
-- another, or split a complaint out of its group. Remembered and applied
-- every time the groups are computed again; append-only.
CREATE TABLE recurring_decisions (
	seq       INTEGER PRIMARY KEY AUTOINCREMENT,
	kind      TEXT NOT NULL CHECK (kind IN ('dismiss', 'merge', 'split')),
	complaint TEXT NOT NULL, -- the group holding it (split: it alone)
	merge_into TEXT NOT NULL, -- merge: the group holding this one; else ''
	actor_id  TEXT NOT NULL,
	at        INTEGER NOT NULL
) STRICT;
