-- One source of deadlines: the server's SLA rules (shared/sla), as the
-- device last received them (GET /api/v1/sla), so receipts and the staff
-- queue keep the server's dates while offline. One row once received.
-- Owned by kiosk/slarules through the store's SLARules/SaveSLARules.
CREATE TABLE sla_rules (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    body        BLOB NOT NULL,   -- the configuration file, as the server sent it
    received_at INTEGER NOT NULL -- unix ms
) STRICT;
