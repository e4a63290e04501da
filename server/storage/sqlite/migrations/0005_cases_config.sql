-- The fingerprint of the configuration the case projection's deadlines were
-- computed under (server/cases: the SLA config's digest and the fold's
-- version). The engine compares it with its own at start and refolds every
-- row when they differ, so an operator's edit of the SLA targets reaches the
-- cases already stored. '' (every projection before this migration): not
-- known, refold once.
ALTER TABLE cases_cursor ADD COLUMN config TEXT NOT NULL DEFAULT '';
