-- The web console (server/console, storage.Console): staff sign in with a
-- password and a second factor; everything here is keyed by the same staff
-- accounts the terminals use.
--
-- password_hash is staff.HashPIN's argon2id text of the password, never the
-- password; totp_secret is the base32 secret ('' until enrolled), kept in the
-- clear because the server must compute the codes; totp_on is 1 once the
-- person proved they hold it; totp_step
-- stops a code seen over a shoulder from being used twice. branches widens the account's console scope
-- beyond its home branch (comma-separated ids, '*' for every branch).
CREATE TABLE console_accounts (
	staff_id      TEXT PRIMARY KEY REFERENCES staff (id),
	password_hash TEXT NOT NULL DEFAULT '',
	totp_secret   TEXT NOT NULL DEFAULT '',
	totp_on       INTEGER NOT NULL DEFAULT 0,
	totp_step     INTEGER NOT NULL DEFAULT 0, -- the last 30 s step a code was accepted for: no replay
	branches      TEXT NOT NULL DEFAULT '',
	updated_at    INTEGER NOT NULL
) STRICT;

-- One-time recovery codes, by SHA-256 of the code (they are long random
-- strings, so a fast hash is enough); used_at is set when one is spent.
CREATE TABLE console_recovery_codes (
	staff_id  TEXT NOT NULL REFERENCES staff (id),
	code_hash BLOB NOT NULL,
	used_at   INTEGER,
	PRIMARY KEY (staff_id, code_hash)
) STRICT;

-- Console sessions, by SHA-256 of the cookie's token (a leaked database
-- signs nobody in). stage is 'password' (the password was right, the second
-- factor is awaited) or 'full'.
CREATE TABLE console_sessions (
	token_hash BLOB PRIMARY KEY,
	id         TEXT NOT NULL UNIQUE,
	staff_id   TEXT NOT NULL REFERENCES staff (id),
	stage      TEXT NOT NULL,
	started_at INTEGER NOT NULL,
	seen_at    INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	ended_at   INTEGER
) STRICT;
CREATE INDEX console_sessions_staff ON console_sessions (staff_id);

-- Wrong passwords or codes in a row, per account: the console's lock-out,
-- apart from the terminals' PIN count.
CREATE TABLE console_failures (
	staff_id TEXT PRIMARY KEY REFERENCES staff (id),
	failures INTEGER NOT NULL,
	last_at  INTEGER NOT NULL
) STRICT;

-- The console's audit trail: sign-ins, failures, sign-outs and
-- administrative changes. Case work is not here: it is in the event log.
-- staff_id is who acted or who was tried ('' when the id typed is unknown;
-- the id itself is not kept, it may be a password typed in the wrong box).
CREATE TABLE console_audit (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	at       INTEGER NOT NULL,
	staff_id TEXT NOT NULL,
	action   TEXT NOT NULL,
	detail   TEXT NOT NULL,
	client   TEXT NOT NULL
) STRICT;

-- Full-text search over what customers and staff wrote: the complaint's
-- description and desired outcome, information added, staff messages,
-- notes, requests and decisions. Accent- and case-insensitive ("vole"
-- finds "volé"). Filled from the event log by the trigger below, in the
-- same transaction as each event, so it is never behind the log; rows are
-- never updated (events are immutable).
CREATE VIRTUAL TABLE case_text USING fts5 (
	complaint_id UNINDEXED,
	body,
	tokenize = "unicode61 remove_diacritics 2"
);

CREATE TRIGGER events_case_text AFTER INSERT ON events
WHEN NEW.type IN ('filed', 'info_provided', 'message_sent', 'note_added', 'info_requested', 'responded')
	AND json_valid(CAST(NEW.data AS TEXT))
BEGIN
	INSERT INTO case_text (complaint_id, body) VALUES (NEW.complaint_id,
		CASE WHEN NEW.type = 'filed'
		THEN coalesce(json_extract(CAST(NEW.data AS TEXT), '$.description'), '') || ' ' ||
			coalesce(json_extract(CAST(NEW.data AS TEXT), '$.desired_outcome'), '')
		ELSE coalesce(json_extract(CAST(NEW.data AS TEXT), '$.text'), '') END);
END;

INSERT INTO case_text (complaint_id, body)
SELECT complaint_id,
	CASE WHEN type = 'filed'
	THEN coalesce(json_extract(CAST(data AS TEXT), '$.description'), '') || ' ' ||
		coalesce(json_extract(CAST(data AS TEXT), '$.desired_outcome'), '')
	ELSE coalesce(json_extract(CAST(data AS TEXT), '$.text'), '') END
FROM events
WHERE type IN ('filed', 'info_provided', 'message_sent', 'note_added', 'info_requested', 'responded')
	AND json_valid(CAST(data AS TEXT))
ORDER BY seq;

-- The queue page: cases of some branches, or in some queues, by deadline.
CREATE INDEX cases_branch_due ON cases (branch, next_due);
CREATE INDEX cases_queue_due ON cases (queue, next_due);
