-- The improvement loop's figures (server/kpi): one fact per filed complaint,
-- folded from its events, and per-day aggregates of the facts by day,
-- branch, category and channel, kept equal to the sum of the facts in the
-- same transaction that moves the follower's cursor. All of it is derived
-- from the event log: `server kpi rebuild` throws it away and folds again.
--
-- Times are Unix nanoseconds (0: not yet, or no deadline); sla columns are
-- kpi.NotJudged (0), kpi.OnTime (1) or kpi.Late (2).
CREATE TABLE kpi_cursor (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	seq    INTEGER NOT NULL,
	config TEXT NOT NULL
) STRICT;
INSERT INTO kpi_cursor (id, seq, config) VALUES (1, 0, '');

CREATE TABLE kpi_facts (
	complaint_id    TEXT PRIMARY KEY,
	code            TEXT NOT NULL,
	day             TEXT NOT NULL,
	branch          TEXT NOT NULL,
	category        TEXT NOT NULL,
	channel         TEXT NOT NULL,
	state           TEXT NOT NULL,
	filed_at        INTEGER NOT NULL,
	acknowledged_at INTEGER NOT NULL,
	responded_at    INTEGER NOT NULL,
	closed_at       INTEGER NOT NULL,
	ack_sla         INTEGER NOT NULL,
	respond_sla     INTEGER NOT NULL,
	ack_due         INTEGER NOT NULL,
	respond_due     INTEGER NOT NULL,
	escalated       INTEGER NOT NULL,
	reopened        INTEGER NOT NULL,
	not_satisfied   INTEGER NOT NULL,
	stars           INTEGER NOT NULL,
	seq             INTEGER NOT NULL
) STRICT;
CREATE INDEX kpi_facts_day ON kpi_facts (day, branch);
CREATE INDEX kpi_facts_open ON kpi_facts (branch, closed_at, filed_at);

CREATE TABLE kpi_daily (
	day           TEXT NOT NULL,
	branch        TEXT NOT NULL,
	category      TEXT NOT NULL,
	channel       TEXT NOT NULL,
	received      INTEGER NOT NULL,
	acked         INTEGER NOT NULL,
	ack_on_time   INTEGER NOT NULL,
	ack_late      INTEGER NOT NULL,
	responded     INTEGER NOT NULL,
	resp_on_time  INTEGER NOT NULL,
	resp_late     INTEGER NOT NULL,
	escalated     INTEGER NOT NULL,
	reopened      INTEGER NOT NULL,
	closed        INTEGER NOT NULL,
	not_satisfied INTEGER NOT NULL,
	rated         INTEGER NOT NULL,
	stars_sum     INTEGER NOT NULL,
	stars1        INTEGER NOT NULL,
	stars2        INTEGER NOT NULL,
	stars3        INTEGER NOT NULL,
	stars4        INTEGER NOT NULL,
	stars5        INTEGER NOT NULL,
	PRIMARY KEY (day, branch, category, channel)
) STRICT, WITHOUT ROWID;
