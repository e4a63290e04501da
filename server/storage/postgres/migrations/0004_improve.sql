-- The improvement loop beyond the figures (server/improve), as SQLite's
-- migration 0017.
--
-- kpi_facts gain the root cause staff recorded when closing (ISO 10002
-- 9.7), for the corrective actions' effectiveness check; the follower's
-- version changes with it (kpi/v2), so the facts are refolded from the log.
ALTER TABLE kpi_facts ADD COLUMN root_cause TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX kpi_facts_cause ON kpi_facts (root_cause, filed_at);

-- Corrective actions (and the recurring groups' decisions, as the stream
-- storage.RecurringStream): append-only events with an actor and a time,
-- folded by server/improve. Never updated or deleted.
CREATE TABLE action_events (
	seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id        TEXT COLLATE "C" NOT NULL UNIQUE,
	action_id TEXT COLLATE "C" NOT NULL,
	type      TEXT COLLATE "C" NOT NULL,
	actor_id  TEXT COLLATE "C" NOT NULL,
	at        BIGINT NOT NULL, -- Unix nanoseconds
	data      BYTEA NOT NULL
);
CREATE INDEX action_events_action ON action_events (action_id, seq);
