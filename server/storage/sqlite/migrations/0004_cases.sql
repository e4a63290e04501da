-- The case engine's projection (server/cases, storage.Cases): one row per
-- filed complaint, folded from the event log, and the cursor the rows are
-- folded up to. Derived data: ResetCases empties both and the engine replays
-- the log. No foreign key to complaints: the rows are rebuilt wholesale, and
-- a later migration that rebuilds complaints should not have to care.
CREATE TABLE cases (
	complaint_id        TEXT PRIMARY KEY,
	code                TEXT NOT NULL,
	branch              TEXT NOT NULL,
	state               TEXT NOT NULL,
	queue               TEXT NOT NULL,
	severity            TEXT NOT NULL,
	priority            INTEGER NOT NULL,
	category            TEXT NOT NULL,
	escalation_level    INTEGER NOT NULL,
	waiting_on_customer INTEGER NOT NULL, -- 0 or 1
	filed_at            INTEGER NOT NULL,
	acknowledged_at     INTEGER,
	responded_at        INTEGER,
	closed_at           INTEGER,
	ack_due             INTEGER,
	respond_due         INTEGER,
	next_due            INTEGER,          -- NULL: nothing for the escalation clock to watch
	next_target         TEXT NOT NULL,    -- 'acknowledge', 'respond' or ''
	updated_at          INTEGER NOT NULL,
	seq                 INTEGER NOT NULL
) STRICT;

-- The escalation scan: WHERE next_due < ? ORDER BY next_due. Partial, so the
-- many closed or answered cases cost the index nothing.
CREATE INDEX cases_next_due ON cases (next_due, complaint_id) WHERE next_due IS NOT NULL;

-- One row: the global sequence the projection is folded up to. Updated in
-- the same transaction as the rows it produced.
CREATE TABLE cases_cursor (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	seq INTEGER NOT NULL
) STRICT;
INSERT INTO cases_cursor (id, seq) VALUES (1, 0);
