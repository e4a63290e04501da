-- The console's saved views and configuration versions (storage.Desk).
--
-- A saved view is a person's named set of queue filters (the page's query
-- string); team, when not '', shares it with that team's members.
CREATE TABLE console_views (
	id         TEXT PRIMARY KEY,
	staff_id   TEXT NOT NULL REFERENCES staff (id),
	name       TEXT NOT NULL,
	query      TEXT NOT NULL,
	team       TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	UNIQUE (staff_id, name)
) STRICT;
CREATE INDEX console_views_team ON console_views (team) WHERE team != '';

-- Versions of the configurations an administrator edits at the console
-- (kind 'sla', 'dispatch'), and those read from the files, newest highest;
-- the newest is the one in force (docs/CONSOLE.md).
CREATE TABLE config_versions (
	kind     TEXT NOT NULL,
	version  INTEGER NOT NULL,
	body     BLOB NOT NULL,
	digest   TEXT NOT NULL,
	source   TEXT NOT NULL,
	staff_id TEXT NOT NULL,
	note     TEXT NOT NULL,
	at       INTEGER NOT NULL,
	PRIMARY KEY (kind, version)
) STRICT;
