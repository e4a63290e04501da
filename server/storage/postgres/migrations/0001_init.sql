-- The whole schema as SQLite reached it at its migration 0011 (see
-- server/storage/sqlite/migrations), in one step: PostgreSQL deployments
-- start here. Later changes get their own numbered files, each applied in
-- one transaction.
--
-- Times are BIGINT unix nanoseconds (UTC), as in SQLite, so both backends
-- share their conversions and compare as numbers. Hashes are BYTEA chosen
-- by the caller. Text is COLLATE "C": ordered by bytes as in SQLite, so
-- both backends list and page in the same order whatever the database's
-- locale.

CREATE TABLE branches (
	id         TEXT COLLATE "C" PRIMARY KEY,
	name       TEXT COLLATE "C" NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE TABLE enrolments (
	code_hash  BYTEA PRIMARY KEY,
	branch_id  TEXT COLLATE "C" NOT NULL REFERENCES branches (id),
	expires_at BIGINT NOT NULL,
	used_at    BIGINT,
	device_id  TEXT COLLATE "C",
	role       TEXT COLLATE "C" NOT NULL DEFAULT 'kiosk',
	teams      TEXT COLLATE "C" NOT NULL DEFAULT ''
);

-- Counters that only grow: 'device_prefix' numbers enrolments for
-- storage.PrefixForSequence; 'staff_version' stamps staff changes.
CREATE TABLE counters (
	name  TEXT COLLATE "C" PRIMARY KEY,
	value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('device_prefix', 0), ('staff_version', 0);

CREATE TABLE devices (
	id              TEXT COLLATE "C" PRIMARY KEY,
	branch_id       TEXT COLLATE "C" NOT NULL REFERENCES branches (id),
	credential_hash BYTEA NOT NULL,
	prefix          TEXT COLLATE "C" NOT NULL UNIQUE,
	enrolled_at     BIGINT NOT NULL,
	revoked_at      BIGINT,
	acked_seq       BIGINT NOT NULL DEFAULT 0,
	role            TEXT COLLATE "C" NOT NULL DEFAULT 'kiosk',
	teams           TEXT COLLATE "C" NOT NULL DEFAULT '',
	last_hello_at   BIGINT,
	last_device_seq BIGINT NOT NULL DEFAULT 0,
	software        TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE INDEX devices_revoked_at ON devices (revoked_at) WHERE revoked_at IS NOT NULL;

-- The event log. seq is the global sequence. Every transaction that stores
-- events takes the log's advisory lock (postgres.logLock) first and holds
-- it to its commit, and draws its sequences from events_seq under it, so
-- sequences are given in commit order across every replica: a reader that
-- has seen N never later finds a committed event below N.
CREATE SEQUENCE events_seq AS BIGINT;
CREATE TABLE events (
	seq          BIGINT PRIMARY KEY DEFAULT nextval('events_seq'),
	id           TEXT COLLATE "C" NOT NULL UNIQUE,
	device_id    TEXT COLLATE "C" REFERENCES devices (id),
	device_seq   BIGINT,
	complaint_id TEXT COLLATE "C" NOT NULL,
	branch       TEXT COLLATE "C" NOT NULL,
	type         TEXT COLLATE "C" NOT NULL,
	actor_kind   TEXT COLLATE "C" NOT NULL,
	actor_id     TEXT COLLATE "C" NOT NULL,
	at           BIGINT NOT NULL, -- hlc.Timestamp
	data         BYTEA,
	stored_at    BIGINT NOT NULL,
	attest       TEXT COLLATE "C" NOT NULL DEFAULT '',
	UNIQUE (device_id, device_seq),
	CHECK ((device_id IS NULL) = (device_seq IS NULL)),
	CHECK (device_id IS NOT NULL OR actor_kind IN ('customer', 'system'))
);
CREATE INDEX events_branch_seq ON events (branch, seq);
CREATE INDEX events_complaint ON events (complaint_id, seq);

CREATE TABLE event_aliases (
	device_id  TEXT COLLATE "C" NOT NULL REFERENCES devices (id),
	device_seq BIGINT NOT NULL,
	event_id   TEXT COLLATE "C" NOT NULL REFERENCES events (id),
	PRIMARY KEY (device_id, device_seq)
);

CREATE TABLE complaints (
	id             TEXT COLLATE "C" PRIMARY KEY,
	code           TEXT COLLATE "C" NOT NULL UNIQUE,
	branch         TEXT COLLATE "C" NOT NULL,
	category       TEXT COLLATE "C" NOT NULL,
	filed_at       BIGINT NOT NULL,
	filed_event_id TEXT COLLATE "C" NOT NULL REFERENCES events (id)
);

CREATE TABLE event_rejections (
	device_id   TEXT COLLATE "C" NOT NULL REFERENCES devices (id),
	device_seq  BIGINT NOT NULL,
	event_id    TEXT COLLATE "C" NOT NULL,
	code        INTEGER NOT NULL,
	reason      TEXT COLLATE "C" NOT NULL,
	rejected_at BIGINT NOT NULL,
	PRIMARY KEY (device_id, device_seq)
);

CREATE TABLE device_role_review (
	device_id TEXT COLLATE "C" PRIMARY KEY REFERENCES devices (id)
);

-- The case engine's projection (storage.Cases).
CREATE TABLE cases (
	complaint_id        TEXT COLLATE "C" PRIMARY KEY,
	code                TEXT COLLATE "C" NOT NULL,
	branch              TEXT COLLATE "C" NOT NULL,
	state               TEXT COLLATE "C" NOT NULL,
	queue               TEXT COLLATE "C" NOT NULL,
	severity            TEXT COLLATE "C" NOT NULL,
	priority            INTEGER NOT NULL,
	category            TEXT COLLATE "C" NOT NULL,
	escalation_level    INTEGER NOT NULL,
	waiting_on_customer BOOLEAN NOT NULL,
	filed_at            BIGINT NOT NULL,
	acknowledged_at     BIGINT,
	responded_at        BIGINT,
	closed_at           BIGINT,
	ack_due             BIGINT,
	respond_due         BIGINT,
	next_due            BIGINT,
	next_target         TEXT COLLATE "C" NOT NULL,
	updated_at          BIGINT NOT NULL,
	seq                 BIGINT NOT NULL
);
CREATE INDEX cases_next_due ON cases (next_due, complaint_id) WHERE next_due IS NOT NULL;

CREATE TABLE cases_cursor (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	seq    BIGINT NOT NULL,
	config TEXT COLLATE "C" NOT NULL DEFAULT ''
);
INSERT INTO cases_cursor (id, seq) VALUES (1, 0);

CREATE TABLE staff (
	id         TEXT COLLATE "C" PRIMARY KEY,
	branch_id  TEXT COLLATE "C" NOT NULL REFERENCES branches (id),
	name       TEXT COLLATE "C" NOT NULL,
	role       TEXT COLLATE "C" NOT NULL,
	pin_hash   TEXT COLLATE "C" NOT NULL,
	revoked_at BIGINT,
	updated_at BIGINT NOT NULL,
	version    BIGINT NOT NULL UNIQUE,
	teams      TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE INDEX staff_branch ON staff (branch_id, id);

CREATE TABLE staff_sessions (
	id         TEXT COLLATE "C" PRIMARY KEY,
	device_id  TEXT COLLATE "C" NOT NULL REFERENCES devices (id),
	staff_id   TEXT COLLATE "C" NOT NULL REFERENCES staff (id),
	started_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	ended_at   BIGINT
);
CREATE INDEX staff_sessions_device ON staff_sessions (device_id, staff_id, started_at);

CREATE TABLE staff_signin_failures (
	staff_id TEXT COLLATE "C" PRIMARY KEY REFERENCES staff (id),
	failures INTEGER NOT NULL,
	last_at  BIGINT NOT NULL
);

CREATE TABLE complaint_queues (
	complaint_id TEXT COLLATE "C" PRIMARY KEY,
	queue        TEXT COLLATE "C" NOT NULL,
	at           BIGINT NOT NULL,
	event_id     TEXT COLLATE "C" NOT NULL
);

-- A team's stream; pos is given under the log's lock like events.seq.
CREATE SEQUENCE scope_log_pos AS BIGINT;
CREATE TABLE scope_log (
	pos       BIGINT PRIMARY KEY DEFAULT nextval('scope_log_pos'),
	scope     TEXT COLLATE "C" NOT NULL,
	event_seq BIGINT NOT NULL REFERENCES events (seq)
);
CREATE INDEX scope_log_scope ON scope_log (scope, pos);

-- Outbound delivery (package server/delivery).
CREATE TABLE delivery_cursors (
	name TEXT COLLATE "C" PRIMARY KEY,
	seq  BIGINT NOT NULL
);

CREATE TABLE delivery_jobs (
	queue        TEXT COLLATE "C" NOT NULL,
	key          TEXT COLLATE "C" NOT NULL,
	channel      TEXT COLLATE "C" NOT NULL,
	subject      TEXT COLLATE "C" NOT NULL,
	complaint_id TEXT COLLATE "C" NOT NULL,
	event_id     TEXT COLLATE "C" NOT NULL,
	seq          BIGINT NOT NULL,
	payload      BYTEA NOT NULL,
	state        TEXT COLLATE "C" NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),
	attempts     INTEGER NOT NULL DEFAULT 0,
	created_at   BIGINT NOT NULL,
	next_at      BIGINT NOT NULL,
	lease_until  BIGINT,
	done_at      BIGINT,
	PRIMARY KEY (queue, key)
);
CREATE INDEX delivery_jobs_due ON delivery_jobs (queue, next_at) WHERE state = 'pending';
CREATE INDEX delivery_jobs_subject ON delivery_jobs (queue, subject, state);

CREATE TABLE delivery_attempts (
	id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	queue        TEXT COLLATE "C" NOT NULL,
	key          TEXT COLLATE "C" NOT NULL,
	channel      TEXT COLLATE "C" NOT NULL,
	subject      TEXT COLLATE "C" NOT NULL,
	complaint_id TEXT COLLATE "C" NOT NULL,
	event_id     TEXT COLLATE "C" NOT NULL,
	attempt      INTEGER NOT NULL,
	at           BIGINT NOT NULL,
	outcome      TEXT COLLATE "C" NOT NULL,
	code         INTEGER NOT NULL DEFAULT 0,
	detail       TEXT COLLATE "C" NOT NULL DEFAULT '',
	took_ms      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX delivery_attempts_subject ON delivery_attempts (queue, subject, at);
CREATE INDEX delivery_attempts_complaint ON delivery_attempts (complaint_id, at);

CREATE TABLE notify_unsubscribed (
	contact_key TEXT COLLATE "C" PRIMARY KEY,
	at          BIGINT NOT NULL
);

CREATE TABLE webhooks (
	id           TEXT COLLATE "C" PRIMARY KEY,
	url          TEXT COLLATE "C" NOT NULL,
	secret       TEXT COLLATE "C" NOT NULL,
	events       TEXT COLLATE "C" NOT NULL DEFAULT '',
	include_text BOOLEAN NOT NULL DEFAULT false,
	created_at   BIGINT NOT NULL,
	from_seq     BIGINT NOT NULL,
	removed_at   BIGINT
);

-- Secrets every replica must share (the tracking page's key, from which
-- the notifier's is derived): made once by the first replica, read by all.
-- With SQLite the key is a file in the data directory instead.
CREATE TABLE server_secrets (
	name  TEXT COLLATE "C" PRIMARY KEY,
	value BYTEA NOT NULL
);
