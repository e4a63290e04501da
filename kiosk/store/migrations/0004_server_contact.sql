-- Bounded offline sign-in (the trust model): a staff terminal signs people
-- in against its copy of the staff directory only while its last contact
-- with the server is recent enough.

-- server_contact is when this terminal last heard from the server (a
-- staff directory answer, 200 or 304) and the server's bound on offline
-- sign-in as it stated it then (the Ombud-Max-Offline header): offline
-- sign-in is refused once the contact is older than the bound, and before
-- there is any. One row once the server has answered. Owned by
-- kiosk/store/signin.
CREATE TABLE server_contact (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    at          INTEGER NOT NULL,                        -- unix ms
    max_offline INTEGER NOT NULL CHECK (max_offline > 0) -- seconds
) STRICT;

-- A terminal upgraded to this schema last heard from the server no later
-- than when it last saved a directory: that is its contact until the
-- next fetch (stricter than the truth, never looser), with the server's
-- default bound (72 h), so an upgrade made while the branch is offline
-- does not lock everyone out at once.
INSERT INTO server_contact (singleton, at, max_offline)
    SELECT 1, saved_at, 259200 FROM staff_directory WHERE singleton = 1;
