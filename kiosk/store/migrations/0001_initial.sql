-- The kiosk's first schema. Times are unix milliseconds (INTEGER); hybrid
-- logical clock readings are stored as INTEGER too (an hlc.Timestamp keeps its
-- top bit clear until the year ~6400, so it fits a signed 64-bit column).
-- STRICT tables so a wrong type is an error, not a silently coerced value.

-- device is this kiosk's identity: exactly one row, made on first open.
CREATE TABLE device (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    id          TEXT    NOT NULL,              -- UUIDv7, the actor id of device events
    code_prefix TEXT    NOT NULL CHECK (length(code_prefix) = 3), -- tracking code prefix
    created_at  INTEGER NOT NULL
) STRICT;

-- complaints is the queryable projection of "filed" events: the event keeps the
-- complaint as JSON for replication; this table answers lookups by id and code.
-- Contact details are NULL unless the customer consented, and then consent_at
-- and notice_version are both set.
CREATE TABLE complaints (
    id              TEXT    PRIMARY KEY,
    code            TEXT    NOT NULL UNIQUE,   -- canonical tracking code
    branch          TEXT    NOT NULL,
    device          TEXT    NOT NULL,
    channel         TEXT    NOT NULL,
    category        TEXT    NOT NULL,
    description     TEXT    NOT NULL,
    desired_outcome TEXT    NOT NULL DEFAULT '',
    contact_name    TEXT,
    contact_email   TEXT,
    contact_phone   TEXT,
    consent_at      INTEGER,
    notice_version  TEXT,
    language        TEXT    NOT NULL,
    filed_at        INTEGER NOT NULL,
    CHECK ((consent_at IS NULL) = (notice_version IS NULL)),
    CHECK (consent_at IS NOT NULL OR
           (contact_name IS NULL AND contact_email IS NULL AND contact_phone IS NULL))
) STRICT;

-- events is the append-only log. complaint_id deliberately has no foreign key:
-- events replicated from elsewhere may arrive before the "filed" event that
-- creates the complaint row, and must still be kept.
CREATE TABLE events (
    id           TEXT    PRIMARY KEY,
    complaint_id TEXT    NOT NULL,
    type         TEXT    NOT NULL,
    actor_kind   TEXT    NOT NULL,
    actor_id     TEXT    NOT NULL DEFAULT '',
    at           INTEGER NOT NULL,             -- hlc.Timestamp
    branch       TEXT    NOT NULL,
    data         TEXT    CHECK (data IS NULL OR json_valid(data))
) STRICT;

-- A complaint's timeline, in the order every node agrees on (event.Less).
CREATE INDEX events_by_complaint ON events (complaint_id, at, id);

-- outbox lists this device's events still to be sent upstream. seq is the
-- device sequence number the server acknowledges; AUTOINCREMENT so a number is
-- never reused even after acknowledged rows are deleted.
CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT    NOT NULL UNIQUE REFERENCES events (id),
    created_at INTEGER NOT NULL
) STRICT;
