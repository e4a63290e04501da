-- Device roles (shared/device): fixed by the enrolment code, enforced by the
-- server. Devices enrolled before roles existed become customer kiosks, the
-- least privileged role: a staff terminal among them stops receiving its
-- queue until the operator says what it is (`server device role`), and the
-- server's log names every such device that has recorded staff actions.
-- Teams are the team ids a team terminal serves, comma-separated.
ALTER TABLE enrolments ADD COLUMN role TEXT NOT NULL DEFAULT 'kiosk';
ALTER TABLE enrolments ADD COLUMN teams TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN role TEXT NOT NULL DEFAULT 'kiosk';
ALTER TABLE devices ADD COLUMN teams TEXT NOT NULL DEFAULT '';

-- A clock reading more than five minutes past the moment the server stored
-- its event was never honest (hlc.MaxAhead, now refused at push time), and
-- such a reading dragged the clock every later event takes its time from.
-- Bring each down to its storage time plus the bound, so the log orders as
-- it happened and no clock follows it again. at is (unix ms << 16) | logical;
-- stored_at is unix ns.
UPDATE events SET at = ((stored_at / 1000000) + 300000) * 65536
	WHERE at < 0 OR at / 65536 > (stored_at / 1000000) + 300000;

-- Devices that recorded staff actions before roles existed were staff
-- terminals: the upgrade made them kiosks all the same (least privilege),
-- and the server names them in its log at every start until the operator
-- says what they are (`server device role`), which removes them from here.
CREATE TABLE device_role_review (
	device_id TEXT PRIMARY KEY REFERENCES devices (id)
) STRICT, WITHOUT ROWID;
INSERT INTO device_role_review (device_id)
	SELECT DISTINCT device_id FROM events WHERE device_id IS NOT NULL AND actor_kind = 'staff';
