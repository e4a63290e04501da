-- Staff accounts (shared/staff, storage.Staff). Rows are never deleted: an
-- id is the actor of every event its holder recorded, so it is never given
-- to anyone else, and a revoked account stays in its branch's directory so
-- the terminals learn of the revocation. pin_hash is staff.HashPIN's text,
-- never a PIN.
--
-- version takes the next 'staff_version' counter value on every change to
-- the row, so the largest version among a branch's rows grows whenever any
-- of them changes: that maximum is the directory's version (and its ETag).
CREATE TABLE staff (
	id         TEXT PRIMARY KEY,
	branch_id  TEXT NOT NULL REFERENCES branches (id),
	name       TEXT NOT NULL,
	role       TEXT NOT NULL,
	pin_hash   TEXT NOT NULL,
	revoked_at INTEGER,          -- NULL while the account may sign in
	updated_at INTEGER NOT NULL,
	version    INTEGER NOT NULL UNIQUE
) STRICT;

-- A branch's directory: WHERE branch_id = ? ORDER BY id.
CREATE INDEX staff_branch ON staff (branch_id, id);

INSERT INTO counters (name, value) VALUES ('staff_version', 0);
