-- What SQLite gained after its migration 0011 (see
-- server/storage/sqlite/migrations 0012-0017), in one step.

-- Tamper evidence (package server/audit; SQLite 0013): every event carries
-- the SHA-256 of its payload as first stored and a hash chained to the
-- previous event in global sequence order, both computed in Go by the
-- transaction that stores the event, under the log's advisory lock, so two
-- replicas cannot fork the chain. Rows stored before this migration are
-- chained when the store opens (backfillChain). redacted_at is set when
-- retention or an erasure replaced the payload (payload_hash keeps the
-- original's hash, so the chain verifies).
ALTER TABLE events ADD COLUMN hash BYTEA;
ALTER TABLE events ADD COLUMN payload_hash BYTEA;
ALTER TABLE events ADD COLUMN redacted_at BIGINT;
CREATE INDEX events_unchained ON events (seq) WHERE hash IS NULL;
CREATE INDEX events_redacted ON events (complaint_id, seq) WHERE type = 'redacted';

-- The console's full-text search (SQLite 0012's case_text): the folded
-- words (lower case, no diacritics: postgres/text.go) of what customers and
-- staff wrote, one row per event, written with the event. Events stored
-- before this migration are indexed when the store opens (backfillText).
CREATE TABLE case_text (
	complaint_id TEXT COLLATE "C" NOT NULL,
	seq          BIGINT NOT NULL,
	body         TSVECTOR NOT NULL
);
CREATE INDEX case_text_body ON case_text USING GIN (body);
CREATE INDEX case_text_complaint ON case_text (complaint_id);

-- Privacy (package server/privacy; SQLite 0014): legal holds, erasure
-- requests with four eyes, and the privacy log. None of these tables holds
-- a contact detail or complaint text: a contact is named by its hash.
CREATE TABLE legal_holds (
	complaint_id TEXT COLLATE "C" PRIMARY KEY,
	reason       TEXT COLLATE "C" NOT NULL,
	set_by       TEXT COLLATE "C" NOT NULL,
	set_at       BIGINT NOT NULL
);

CREATE TABLE erasure_requests (
	id           TEXT COLLATE "C" PRIMARY KEY,
	subject      TEXT COLLATE "C" NOT NULL, -- 'code:<code>', 'email:<hash>' or 'phone:<hash>'
	complaints   TEXT COLLATE "C" NOT NULL, -- JSON array of the complaint ids it covers
	reason       TEXT COLLATE "C" NOT NULL,
	requested_by TEXT COLLATE "C" NOT NULL,
	requested_at BIGINT NOT NULL,
	state        TEXT COLLATE "C" NOT NULL CHECK (state IN ('pending', 'done', 'cancelled')),
	approved_by  TEXT COLLATE "C",
	approved_at  BIGINT,
	outcome      TEXT COLLATE "C" NOT NULL DEFAULT ''
);

CREATE TABLE privacy_log (
	id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at      BIGINT NOT NULL,
	actor   TEXT COLLATE "C" NOT NULL,
	action  TEXT COLLATE "C" NOT NULL,
	subject TEXT COLLATE "C" NOT NULL,
	detail  TEXT COLLATE "C" NOT NULL
);

-- Redaction clears the outbound jobs of a complaint.
CREATE INDEX delivery_jobs_complaint ON delivery_jobs (complaint_id);

-- The web console (server/console, storage.Console; SQLite 0012). Secrets
-- only as hashes, except the TOTP secret the server must compute codes
-- with; see the SQLite migration for each column.
CREATE TABLE console_accounts (
	staff_id      TEXT COLLATE "C" PRIMARY KEY REFERENCES staff (id),
	password_hash TEXT COLLATE "C" NOT NULL DEFAULT '',
	totp_secret   TEXT COLLATE "C" NOT NULL DEFAULT '',
	totp_on       BOOLEAN NOT NULL DEFAULT false,
	totp_step     BIGINT NOT NULL DEFAULT 0,
	branches      TEXT COLLATE "C" NOT NULL DEFAULT '',
	updated_at    BIGINT NOT NULL
);

CREATE TABLE console_recovery_codes (
	staff_id  TEXT COLLATE "C" NOT NULL REFERENCES staff (id),
	code_hash BYTEA NOT NULL,
	used_at   BIGINT,
	PRIMARY KEY (staff_id, code_hash)
);

CREATE TABLE console_sessions (
	token_hash BYTEA PRIMARY KEY,
	id         TEXT COLLATE "C" NOT NULL UNIQUE,
	staff_id   TEXT COLLATE "C" NOT NULL REFERENCES staff (id),
	stage      TEXT COLLATE "C" NOT NULL,
	started_at BIGINT NOT NULL,
	seen_at    BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	ended_at   BIGINT
);
CREATE INDEX console_sessions_staff ON console_sessions (staff_id);

CREATE TABLE console_failures (
	staff_id TEXT COLLATE "C" PRIMARY KEY REFERENCES staff (id),
	failures INTEGER NOT NULL,
	last_at  BIGINT NOT NULL
);

CREATE TABLE console_audit (
	seq      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at       BIGINT NOT NULL,
	staff_id TEXT COLLATE "C" NOT NULL,
	action   TEXT COLLATE "C" NOT NULL,
	detail   TEXT COLLATE "C" NOT NULL,
	client   TEXT COLLATE "C" NOT NULL
);

-- The queue page: cases of some branches, or in some queues, by deadline.
CREATE INDEX cases_branch_due ON cases (branch, next_due);
CREATE INDEX cases_queue_due ON cases (queue, next_due);
CREATE INDEX cases_code ON cases (code);

-- The improvement loop's figures (server/kpi; SQLite 0015): one fact per
-- filed complaint and per-day aggregates kept equal to the sum of the facts
-- in the transaction that moves the follower's cursor (a compare-and-set,
-- so a follower on a replica that lost its lease writes nothing). Derived
-- from the log: `server kpi rebuild` throws it away and folds again. Times
-- are unix nanoseconds, 0 for not yet.
CREATE TABLE kpi_cursor (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	seq    BIGINT NOT NULL,
	config TEXT COLLATE "C" NOT NULL
);
INSERT INTO kpi_cursor (id, seq, config) VALUES (1, 0, '');

CREATE TABLE kpi_facts (
	complaint_id    TEXT COLLATE "C" PRIMARY KEY,
	code            TEXT COLLATE "C" NOT NULL,
	day             TEXT COLLATE "C" NOT NULL,
	branch          TEXT COLLATE "C" NOT NULL,
	category        TEXT COLLATE "C" NOT NULL,
	channel         TEXT COLLATE "C" NOT NULL,
	state           TEXT COLLATE "C" NOT NULL,
	filed_at        BIGINT NOT NULL,
	acknowledged_at BIGINT NOT NULL,
	responded_at    BIGINT NOT NULL,
	closed_at       BIGINT NOT NULL,
	ack_sla         INTEGER NOT NULL,
	respond_sla     INTEGER NOT NULL,
	ack_due         BIGINT NOT NULL,
	respond_due     BIGINT NOT NULL,
	escalated       BOOLEAN NOT NULL,
	reopened        BOOLEAN NOT NULL,
	not_satisfied   BOOLEAN NOT NULL,
	stars           INTEGER NOT NULL,
	seq             BIGINT NOT NULL,
	root_cause      TEXT COLLATE "C" NOT NULL DEFAULT '' -- SQLite 0017
);
CREATE INDEX kpi_facts_day ON kpi_facts (day, branch);
CREATE INDEX kpi_facts_open ON kpi_facts (branch, closed_at, filed_at);
CREATE INDEX kpi_facts_cause ON kpi_facts (root_cause, filed_at);

CREATE TABLE kpi_daily (
	day           TEXT COLLATE "C" NOT NULL,
	branch        TEXT COLLATE "C" NOT NULL,
	category      TEXT COLLATE "C" NOT NULL,
	channel       TEXT COLLATE "C" NOT NULL,
	received      BIGINT NOT NULL,
	acked         BIGINT NOT NULL,
	ack_on_time   BIGINT NOT NULL,
	ack_late      BIGINT NOT NULL,
	responded     BIGINT NOT NULL,
	resp_on_time  BIGINT NOT NULL,
	resp_late     BIGINT NOT NULL,
	escalated     BIGINT NOT NULL,
	reopened      BIGINT NOT NULL,
	closed        BIGINT NOT NULL,
	not_satisfied BIGINT NOT NULL,
	rated         BIGINT NOT NULL,
	stars_sum     BIGINT NOT NULL,
	stars1        BIGINT NOT NULL,
	stars2        BIGINT NOT NULL,
	stars3        BIGINT NOT NULL,
	stars4        BIGINT NOT NULL,
	stars5        BIGINT NOT NULL,
	PRIMARY KEY (day, branch, category, channel)
);

-- Corrective actions (server/improve, storage.Improve; SQLite 0017): each
-- an append-only series of events, never updated or deleted.
CREATE TABLE action_events (
	seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id        TEXT COLLATE "C" NOT NULL UNIQUE,
	action_id TEXT COLLATE "C" NOT NULL,
	type      TEXT COLLATE "C" NOT NULL,
	actor_id  TEXT COLLATE "C" NOT NULL,
	at        BIGINT NOT NULL,
	data      BYTEA NOT NULL
);
CREATE INDEX action_events_action ON action_events (action_id, seq);

-- The console's saved views and configuration versions (storage.Desk;
-- SQLite 0016).
CREATE TABLE console_views (
	id         TEXT COLLATE "C" PRIMARY KEY,
	staff_id   TEXT COLLATE "C" NOT NULL REFERENCES staff (id),
	name       TEXT COLLATE "C" NOT NULL,
	query      TEXT COLLATE "C" NOT NULL,
	team       TEXT COLLATE "C" NOT NULL DEFAULT '',
	created_at BIGINT,
	UNIQUE (staff_id, name)
);
CREATE INDEX console_views_team ON console_views (team) WHERE team != '';

CREATE TABLE config_versions (
	kind     TEXT COLLATE "C" NOT NULL,
	version  BIGINT NOT NULL,
	body     BYTEA NOT NULL,
	digest   TEXT COLLATE "C" NOT NULL,
	source   TEXT COLLATE "C" NOT NULL,
	staff_id TEXT COLLATE "C" NOT NULL,
	note     TEXT COLLATE "C" NOT NULL,
	at       BIGINT,
	PRIMARY KEY (kind, version)
);
