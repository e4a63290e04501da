-- What SQLite gained after its migration 0011 (see
-- server/storage/sqlite/migrations 0012-0015), in one step.

-- Tamper evidence (package server/audit; SQLite 0013): every event carries
-- the SHA-256 of its payload as first stored and a hash chained to the
-- previous event in global sequence order, both computed in Go by the
-- transaction that stores the event, under the log's advisory lock, so two
-- replicas cannot fork the chain. Rows stored before this migration are
-- chained when the store opens (backfillChain). redacted_at is set when
-- retention or an erasure replaced the payload (payload_hash keeps the
-- original's hash, so the chain verifies).
ALTER TABLE events ADD COLUMN hash BYTEA;
ALTER TABLE events ADD COLUMN payload_hash BYTEA;
ALTER TABLE events ADD COLUMN redacted_at BIGINT;
CREATE INDEX events_unchained ON events (seq) WHERE hash IS NULL;
CREATE INDEX events_redacted ON events (complaint_id, seq) WHERE type = 'redacted';
