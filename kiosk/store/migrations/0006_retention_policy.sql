-- One source of the privacy promise: the server's retention policy
-- (shared/retention), as the device last received it (GET
-- /api/v1/retention), so the notice a kiosk shows customers states the
-- period the server enforces, offline too. One row once received.
-- Owned by kiosk/retentionrules through the store's RetentionPolicy /
-- SaveRetentionPolicy.
CREATE TABLE retention_policy (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    body        BLOB NOT NULL,   -- the policy, as the server sent it
    received_at INTEGER NOT NULL -- unix ms
) STRICT;
