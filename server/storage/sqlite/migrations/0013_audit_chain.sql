-- Tamper evidence (package server/audit): every event carries the SHA-256 of
-- its payload as first stored and a hash chained to the previous event in
-- global sequence order. Both are computed in Go by the transaction that
-- stores the event; rows stored before this migration are chained when the
-- store opens (backfillChain), since SQL has no SHA-256 here.
-- redacted_at is set when retention or an erasure replaced the payload
-- (payload_hash then still holds the original's hash, so the chain verifies).
ALTER TABLE events ADD COLUMN hash BLOB;
ALTER TABLE events ADD COLUMN payload_hash BLOB;
ALTER TABLE events ADD COLUMN redacted_at INTEGER;
