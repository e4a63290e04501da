-- Sync state (docs/SYNC.md): what the device has received downstream, what the
-- server refused upstream, and how the last exchange went.

-- cursors is the downstream position per scope ("branch:<id>", ...): the
-- highest global sequence whose events are stored here. It is written in the
-- same transaction as the events it covers, so a crash resumes exactly
-- (ARCHITECTURE.md, Sync guarantee 3).
CREATE TABLE cursors (
    scope      TEXT    PRIMARY KEY,
    cursor     INTEGER NOT NULL CHECK (cursor >= 0),
    updated_at INTEGER NOT NULL
) STRICT;

-- quarantine holds this device's events that the server will never store
-- (push_reject): taken out of the outbox so they do not block the events
-- behind them, kept here for staff to see. The event itself stays in events:
-- the audit trail never loses a row.
CREATE TABLE quarantine (
    seq            INTEGER PRIMARY KEY,           -- the device sequence it was sent with
    event_id       TEXT    NOT NULL UNIQUE REFERENCES events (id),
    code           INTEGER NOT NULL,              -- 4003 forbidden, 4004 conflict, 4006 invalid
    reason         TEXT    NOT NULL,              -- the server's reason, at most 123 bytes
    quarantined_at INTEGER NOT NULL
) STRICT;

-- sync_status is what staff (and `kiosk status`, from another process) see of
-- the sync client: a few keys, last write wins.
CREATE TABLE sync_status (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
