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
