-- What each device said at its last hello, for the operator's view of the
-- fleet (`server device show`): when it last connected, the highest
-- sequence it had assigned then (beyond the acknowledged one: its backlog
-- as the server saw it), and its software.
ALTER TABLE devices ADD COLUMN last_hello_at INTEGER;
ALTER TABLE devices ADD COLUMN last_device_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN software TEXT NOT NULL DEFAULT '';
