-- A (device, seq) slot whose event Push rejected (docs/SYNC.md section 6).
-- The slot is consumed: the device's contiguous ack passes it, and a resend
-- of the same event gets the same answer instead of looping. The event
-- itself is not stored (it may lie about its branch); the device keeps it in
-- its quarantine for staff.
CREATE TABLE event_rejections (
	device_id   TEXT NOT NULL REFERENCES devices (id),
	device_seq  INTEGER NOT NULL,
	event_id    TEXT NOT NULL,
	code        INTEGER NOT NULL, -- storage.RejectCode: 4003, 4004 or 4006
	reason      TEXT NOT NULL,
	rejected_at INTEGER NOT NULL,
	PRIMARY KEY (device_id, device_seq)
) STRICT, WITHOUT ROWID;

-- Push looks up which branch a complaint named by a non-Filed event belongs
-- to, so an event cannot reach another branch's complaint by lying in its
-- branch field.
CREATE INDEX events_complaint ON events (complaint_id);

-- RevokedSince: the hub re-checks all live connections in one read.
CREATE INDEX devices_revoked_at ON devices (revoked_at) WHERE revoked_at IS NOT NULL;
