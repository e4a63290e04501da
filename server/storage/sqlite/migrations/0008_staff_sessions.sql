-- Staff sessions: a sign-in the server confirmed (the PIN checked against its
-- own hash) on one terminal, until it ends or expires. A staff action pushed
-- from that terminal and dated inside a session is attributable to the
-- person; one outside any session was signed in offline against the
-- terminal's copy of the directory, and is marked as such.
CREATE TABLE staff_sessions (
	id         TEXT PRIMARY KEY,
	device_id  TEXT NOT NULL REFERENCES devices (id),
	staff_id   TEXT NOT NULL REFERENCES staff (id),
	started_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	ended_at   INTEGER            -- NULL until signed out
) STRICT;

-- Push looks up the sessions of (device, staff) pairs a batch names.
CREATE INDEX staff_sessions_device ON staff_sessions (device_id, staff_id, started_at);

-- Wrong PINs at online sign-in, per account, for the server's own
-- lock-out (staff.Lockout): terminals keep their own count for offline
-- sign-in.
CREATE TABLE staff_signin_failures (
	staff_id TEXT PRIMARY KEY REFERENCES staff (id),
	failures INTEGER NOT NULL,
	last_at  INTEGER NOT NULL
) STRICT;

-- How the server could attribute each event a device pushed:
-- 'session:<id>' (a staff action inside a confirmed session), 'offline' (a
-- staff action with no session: signed in against the terminal's copy of
-- the directory), 'device' (a filing by the device itself, a kiosk's
-- customer). '' for events the server made, and for events stored before
-- this migration.
ALTER TABLE events ADD COLUMN attest TEXT NOT NULL DEFAULT '';
