-- The staff terminal (issue 5): the queue's projection of cases, the branch's
-- staff directory and the sign-in failures that drive the lock-out.

-- cases is one row per complaint with a Filed event here: the fold of its
-- events (lifecycle.Fold), rewritten in the same transaction as every event
-- that changes it, so the queue reads rows instead of folding 50,000 logs.
-- It has no foreign key to complaints: a complaint whose tracking code
-- clashed keeps its events (and so its case) without a complaints row.
-- Rows of a database that predates this table are made by the Go code that
-- runs with this migration (Store.afterMigration), in the same transaction.
CREATE TABLE cases (
    -- The queue's order (see Store.Cases) is the table's own: the rows are
    -- stored in it (WITHOUT ROWID), so listing the queue reads the table
    -- front to back instead of looking every row up from an index.
    -- due_key is when the next step is due (unix ms), or the largest
    -- INTEGER when nothing is.
    due_key      INTEGER NOT NULL,
    filed_at     INTEGER NOT NULL,              -- unix ms, the complaint's FiledAt
    complaint_id TEXT    NOT NULL UNIQUE,
    -- What queries select on, or change in place.
    code         TEXT    NOT NULL,              -- canonical tracking code
    state        TEXT    NOT NULL,              -- lifecycle.State
    queue        TEXT    NOT NULL DEFAULT '',
    category     TEXT    NOT NULL,              -- as filed, or as corrected at assessment
    priority     INTEGER NOT NULL DEFAULT 0,
    refused      INTEGER NOT NULL DEFAULT 0 CHECK (refused >= 0),
    unsynced     INTEGER NOT NULL DEFAULT 0 CHECK (unsynced >= 0),
    -- line is the whole row as the queue shows it (store.CaseRow but
    -- Unsynced), encoded by encodeLine: with this driver, reading one column
    -- instead of sixteen makes listing 50,000 cases about three times faster.
    line         BLOB    NOT NULL,
    PRIMARY KEY (due_key, filed_at, complaint_id)
) STRICT, WITHOUT ROWID;

-- Every filing and action writes this table's trees inside the durable
-- commit the customer waits for, so it has few: filters scan the table in
-- queue order, and a code search reads the complaints table's index of
-- codes. The per-state counts read cases_by_state alone (6 ms for 50,000
-- cases, against 30 ms scanning the table).
CREATE INDEX cases_by_state ON cases (state);
-- Few cases have refused events; RefusedActions folds only those.
CREATE INDEX cases_refused ON cases (complaint_id) WHERE refused > 0;

-- case_search is what word search reads, kept apart so that the queue's
-- rows stay small: the description and categories, lower-cased by Go
-- (SQLite's lower() and LIKE fold ASCII only).
CREATE TABLE case_search (
    complaint_id TEXT PRIMARY KEY,
    text         TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- staff_directory is the branch's staff directory as last received from the
-- server: exactly one row once one has been received.
CREATE TABLE staff_directory (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    branch    TEXT    NOT NULL,
    version   INTEGER NOT NULL CHECK (version >= 0),
    issued_at INTEGER,                          -- unix ns; NULL for the zero time
    saved_at  INTEGER NOT NULL                  -- unix ms
) STRICT;

-- staff_accounts are the directory's accounts, replaced as a whole with it.
-- PIN hashes only, never a PIN.
CREATE TABLE staff_accounts (
    id         TEXT    PRIMARY KEY,             -- normalised (staff.NormalizeID)
    position   INTEGER NOT NULL,                -- order in the directory as received
    name       TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    branch     TEXT    NOT NULL,
    pin_hash   TEXT    NOT NULL,
    revoked_at INTEGER,                         -- unix ns; NULL while the account may sign in
    updated_at INTEGER                          -- unix ns; NULL for the zero time
) STRICT;

-- signin_failures counts wrong PINs in a row per account, so that a restart
-- does not lift a lock-out. A successful sign-in deletes the row.
CREATE TABLE signin_failures (
    account_id TEXT    PRIMARY KEY,
    failures   INTEGER NOT NULL CHECK (failures > 0),
    last_at    INTEGER NOT NULL                 -- unix ms of the latest failure
) STRICT;
