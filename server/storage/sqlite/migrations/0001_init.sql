-- Times are INTEGER unix nanoseconds (UTC): they compare as numbers and round
-- trip a time.Time exactly. Hashes are BLOBs chosen by the caller. STRICT
-- tables, so a wrong type is an error rather than a silent conversion.

CREATE TABLE branches (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE enrolments (
	code_hash  BLOB PRIMARY KEY,
	branch_id  TEXT NOT NULL REFERENCES branches (id),
	expires_at INTEGER NOT NULL,
	used_at    INTEGER,          -- NULL until redeemed; one-time
	device_id  TEXT              -- the device it enrolled
) STRICT;

-- Counters that only grow; 'device_prefix' numbers enrolments for
-- storage.PrefixForSequence, so a prefix is never handed out twice.
CREATE TABLE counters (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) STRICT;
INSERT INTO counters (name, value) VALUES ('device_prefix', 0);

CREATE TABLE devices (
	id              TEXT PRIMARY KEY,
	branch_id       TEXT NOT NULL REFERENCES branches (id),
	credential_hash BLOB NOT NULL,
	prefix          TEXT NOT NULL UNIQUE,
	enrolled_at     INTEGER NOT NULL,
	revoked_at      INTEGER,
	acked_seq       INTEGER NOT NULL DEFAULT 0 -- highest contiguous device seq stored
) STRICT;

-- The event log. seq is the global sequence: AUTOINCREMENT so a value is
-- never given twice even if rows are ever archived away, and, with one writer
-- serialising transactions, strictly increasing in commit order.
CREATE TABLE events (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	id           TEXT NOT NULL UNIQUE,
	device_id    TEXT NOT NULL REFERENCES devices (id),
	device_seq   INTEGER NOT NULL,
	complaint_id TEXT NOT NULL,
	branch       TEXT NOT NULL,
	type         TEXT NOT NULL,
	actor_kind   TEXT NOT NULL,
	actor_id     TEXT NOT NULL,
	at           INTEGER NOT NULL, -- hlc.Timestamp
	data         BLOB,
	stored_at    INTEGER NOT NULL,
	UNIQUE (device_id, device_seq)
) STRICT;

-- Scoped reads: WHERE branch = ? AND seq > ? ORDER BY seq.
CREATE INDEX events_branch_seq ON events (branch, seq);

-- A (device, seq) slot whose event id was already stored under another slot
-- (a device that relayed or renumbered an event). The slot still counts as
-- received for the device's contiguous ack. Rare; usually empty.
CREATE TABLE event_aliases (
	device_id  TEXT NOT NULL REFERENCES devices (id),
	device_seq INTEGER NOT NULL,
	event_id   TEXT NOT NULL REFERENCES events (id),
	PRIMARY KEY (device_id, device_seq)
) STRICT, WITHOUT ROWID;

-- Projection of Filed events, for lookups by tracking code.
CREATE TABLE complaints (
	id             TEXT PRIMARY KEY,
	code           TEXT NOT NULL UNIQUE,
	branch         TEXT NOT NULL,
	category       TEXT NOT NULL,
	filed_at       INTEGER NOT NULL,
	filed_event_id TEXT NOT NULL REFERENCES events (id)
) STRICT;
