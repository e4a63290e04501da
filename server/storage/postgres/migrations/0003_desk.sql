-- The console's saved views and configuration versions (storage.Desk;
-- SQLite 0016). A saved view is a person's named set of queue filters (the
-- page's query string); team, when not '', shares it with that team's
-- members. config_versions keeps every version of the SLA calendars and
-- dispatch rules edited at the console or read from the files; the newest
-- is in force (README, "The web console").
CREATE TABLE console_views (
	id         TEXT COLLATE "C" PRIMARY KEY,
	staff_id   TEXT COLLATE "C" NOT NULL REFERENCES staff (id),
	name       TEXT NOT NULL,
	query      TEXT NOT NULL,
	team       TEXT COLLATE "C" NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	UNIQUE (staff_id, name)
);
CREATE INDEX console_views_team ON console_views (team) WHERE team <> '';

CREATE TABLE config_versions (
	kind     TEXT COLLATE "C" NOT NULL,
	version  BIGINT NOT NULL,
	body     BYTEA NOT NULL,
	digest   TEXT NOT NULL,
	source   TEXT NOT NULL,
	staff_id TEXT NOT NULL,
	note     TEXT NOT NULL,
	at       BIGINT NOT NULL,
	PRIMARY KEY (kind, version)
);
