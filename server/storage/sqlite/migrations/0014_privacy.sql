-- Privacy (package server/privacy): legal holds, erasure requests with four
-- eyes, and the privacy log (every request, approval, hold, redaction and
-- subject-access export). None of these tables holds a contact detail or
-- complaint text: a contact is named by its hash (privacy.SubjectKey).

-- A case under a legal hold is never redacted, by retention or erasure,
-- until the hold is cleared.
CREATE TABLE legal_holds (
	complaint_id TEXT PRIMARY KEY,
	reason       TEXT NOT NULL,
	set_by       TEXT NOT NULL,
	set_at       INTEGER NOT NULL
) STRICT;

-- An erasure request: recorded by one supervisor, approved by another.
CREATE TABLE erasure_requests (
	id           TEXT PRIMARY KEY,
	subject      TEXT NOT NULL,  -- 'code:<code>', 'email:<hash>' or 'phone:<hash>'
	complaints   TEXT NOT NULL,  -- JSON array of the complaint ids it covers
	reason       TEXT NOT NULL,
	requested_by TEXT NOT NULL,
	requested_at INTEGER NOT NULL,
	state        TEXT NOT NULL CHECK (state IN ('pending', 'done', 'cancelled')),
	approved_by  TEXT,
	approved_at  INTEGER,
	outcome      TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE privacy_log (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	at      INTEGER NOT NULL,
	actor   TEXT NOT NULL,
	action  TEXT NOT NULL,
	subject TEXT NOT NULL,
	detail  TEXT NOT NULL
) STRICT;

-- Redaction clears the outbound jobs of a complaint.
CREATE INDEX delivery_jobs_complaint ON delivery_jobs (complaint_id);
