-- ombud:foreign-keys-off
-- (applyMigration turns foreign keys off around this migration and checks
-- them before commit: rebuilding a table that others reference is the
-- procedure SQLite documents for changes ALTER TABLE cannot make.)
--
-- Events the server makes itself (a customer acting on the tracking page,
-- later dispatch and escalation) have no device and no device sequence. They
-- get NULL in both columns: SQLite treats NULLs as distinct in a UNIQUE key,
-- so (device_id, device_seq) stays unique for device events, Push and Ingest
-- keep their slot rules unchanged, and no fake "server device" shows up in
-- the fleet, its counts or its revocation checks. The CHECKs keep the two
-- kinds apart: both columns or neither, and only customer or system actors
-- without a device.
CREATE TABLE events_new (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	id           TEXT NOT NULL UNIQUE,
	device_id    TEXT REFERENCES devices (id),
	device_seq   INTEGER,
	complaint_id TEXT NOT NULL,
	branch       TEXT NOT NULL,
	type         TEXT NOT NULL,
	actor_kind   TEXT NOT NULL,
	actor_id     TEXT NOT NULL,
	at           INTEGER NOT NULL, -- hlc.Timestamp
	data         BLOB,
	stored_at    INTEGER NOT NULL,
	UNIQUE (device_id, device_seq),
	CHECK ((device_id IS NULL) = (device_seq IS NULL)),
	CHECK (device_id IS NOT NULL OR actor_kind IN ('customer', 'system'))
) STRICT;

INSERT INTO events_new (seq, id, device_id, device_seq, complaint_id, branch, type, actor_kind, actor_id, at, data, stored_at)
	SELECT seq, id, device_id, device_seq, complaint_id, branch, type, actor_kind, actor_id, at, data, stored_at FROM events;

-- Keep the global sequence where it was, even if the highest events were
-- ever archived away: a sequence value must never be given twice.
UPDATE sqlite_sequence SET seq = max(seq, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0))
	WHERE name = 'events_new';
INSERT INTO sqlite_sequence (name, seq)
	SELECT 'events_new', seq FROM sqlite_sequence
	WHERE name = 'events' AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events_new');

DROP TABLE events;
ALTER TABLE events_new RENAME TO events;

CREATE INDEX events_branch_seq ON events (branch, seq);
CREATE INDEX events_complaint ON events (complaint_id);
