-- Outbound delivery (package server/delivery): customer notifications
-- (server/notify) and integration webhooks (server/webhook) are derived from
-- the event log by followers, queued here, and sent at least once by
-- workers with retries and backoff.

-- Where each follower is in the global event log. A job and the cursor that
-- passed its event are committed together, so a restart neither loses nor
-- repeats a job.
CREATE TABLE delivery_cursors (
	name TEXT PRIMARY KEY,   -- 'notify', 'webhook'
	seq  INTEGER NOT NULL
) STRICT;

-- The queue. (queue, key) is the idempotency key: a job is queued once
-- however often its event is seen (notify: '<event id>/<channel>';
-- webhook: '<webhook id>/<event id>').
CREATE TABLE delivery_jobs (
	queue        TEXT NOT NULL,
	key          TEXT NOT NULL,
	channel      TEXT NOT NULL,  -- 'email', 'sms', or the webhook id
	subject      TEXT NOT NULL,  -- who receives it: a contact key (a keyed hash, never the address) or the webhook id
	complaint_id TEXT NOT NULL,
	event_id     TEXT NOT NULL,
	seq          INTEGER NOT NULL, -- the event's global sequence
	payload      BLOB NOT NULL,    -- what the sender needs, queue-specific
	state        TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'skipped')),
	attempts     INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	next_at      INTEGER NOT NULL, -- when it is due (pending)
	lease_until  INTEGER,          -- a worker holds it until then; set while an attempt runs
	done_at      INTEGER,
	PRIMARY KEY (queue, key)
) STRICT;

-- Workers claim due jobs: WHERE queue = ? AND state = 'pending' AND next_at <= ?.
CREATE INDEX delivery_jobs_due ON delivery_jobs (queue, next_at) WHERE state = 'pending';
CREATE INDEX delivery_jobs_subject ON delivery_jobs (queue, subject, state);

-- The audit trail: one row per attempt and its outcome (sent, retry,
-- failed, skipped, deferred, interrupted), written by the workers
-- (delivery.Worker) in the transaction that updates the job. Never holds an
-- address, a phone number or complaint text: the job's keys, a status code
-- and a safe detail.
CREATE TABLE delivery_attempts (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	queue        TEXT NOT NULL,
	key          TEXT NOT NULL,
	channel      TEXT NOT NULL,
	subject      TEXT NOT NULL,
	complaint_id TEXT NOT NULL,
	event_id     TEXT NOT NULL,
	attempt      INTEGER NOT NULL,
	at           INTEGER NOT NULL,
	outcome      TEXT NOT NULL,
	code         INTEGER NOT NULL DEFAULT 0, -- HTTP status or SMTP reply code
	detail       TEXT NOT NULL DEFAULT '',
	took_ms      INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX delivery_attempts_subject ON delivery_attempts (queue, subject, at);
CREATE INDEX delivery_attempts_complaint ON delivery_attempts (complaint_id, at);

-- Contacts that unsubscribed (by contact key), honoured for every later
-- notification to them.
CREATE TABLE notify_unsubscribed (
	contact_key TEXT PRIMARY KEY,
	at          INTEGER NOT NULL
) STRICT;

-- Integration webhooks an operator registered. The secret signs each
-- delivery (HMAC-SHA256), so it is kept as given, not hashed.
CREATE TABLE webhooks (
	id           TEXT PRIMARY KEY,
	url          TEXT NOT NULL,
	secret       TEXT NOT NULL,
	events       TEXT NOT NULL DEFAULT '', -- comma-separated event types; '' for all
	include_text INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	from_seq     INTEGER NOT NULL,  -- events after this global sequence are delivered
	removed_at   INTEGER
) STRICT;
